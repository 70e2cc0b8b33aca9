"""Desired objects: exact Docker API v1.41 bodies, labels and spec hashes."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from testkit.swarmnodes import ready_hosts

from swarmredis import labels
from swarmredis.plan import desired_state, required_material, resolve_references
from swarmredis.plan.objects import canonical_json, spec_hash
from swarmredis.plan.observe import SwarmNode
from swarmredis.plan.placement import place
from swarmredis.plan.state import DesiredState
from swarmredis.stackfile.model import Stack

SECOND = 1_000_000_000


def hosts(count: int = 3) -> list[SwarmNode]:
    return ready_hosts(count, lambda i: {"zone": f"z{i}", "redis": "true"})


def stack(**fields: Any) -> Stack:
    return Stack.model_validate({"name": "acme", **fields})


def material(s: Stack) -> dict[str, bytes]:
    return {name: f"secret bytes of {name}".encode() for name in required_material(s)}


def plan(s: Stack, **kw: Any) -> DesiredState:
    return desired_state(s, place(s, hosts(), **kw), material(s))


def test_network_body_with_encryption_and_subnet() -> None:
    state = plan(stack(network={"encrypted": True, "subnet": "10.42.0.0/24"}))
    spec = dict(state.network.spec or {})
    assert spec.pop("Labels") == {
        labels.STACK_NAMESPACE: "acme",
        labels.MANAGED: "true",
        labels.STACK: "acme",
        labels.KIND: "network",
        labels.SPEC_HASH: state.network.spec_hash,
    }
    assert spec == {
        "Name": "acme_net",
        "Driver": "overlay",
        "Attachable": False,
        "CheckDuplicate": True,
        "Options": {"encrypted": ""},
        "IPAM": {"Driver": "default", "Config": [{"Subnet": "10.42.0.0/24"}]},
    }


def test_network_is_attachable_only_when_the_stack_asks() -> None:
    closed, opened = plan(stack()), plan(stack(network={"attachable": True}))
    assert (closed.network.spec or {})["Attachable"] is False
    assert (opened.network.spec or {})["Attachable"] is True
    assert closed.network.spec_hash != opened.network.spec_hash


def test_plain_network_has_no_options_or_ipam() -> None:
    spec = plan(stack()).network.spec or {}
    assert "Options" not in spec
    assert "IPAM" not in spec


def test_secret_names_carry_the_content_digest_and_data_is_base64() -> None:
    s = stack()
    state = plan(s)
    ca = next(x for x in state.secrets if x.logical == "ca.crt")
    digest = hashlib.sha256(b"secret bytes of ca.crt").hexdigest()
    assert ca.name == f"acme_ca.crt.{digest[:8]}"
    assert ca.spec is not None
    assert base64.b64decode(ca.spec["Data"]) == b"secret bytes of ca.crt"
    assert ca.spec["Labels"][labels.LOGICAL] == "ca.crt"
    assert ca.spec["Labels"][labels.KIND] == "secret"


def test_spec_hash_is_the_canonical_json_without_the_hash_label() -> None:
    for obj in plan(stack()).objects():
        assert obj.spec is not None
        body = json.loads(json.dumps(obj.spec))
        del body["Labels"][labels.SPEC_HASH]
        expected = hashlib.sha256(canonical_json(body).encode()).hexdigest()
        assert obj.spec_hash == expected == obj.spec["Labels"][labels.SPEC_HASH]
        assert spec_hash(obj.spec) == expected


def test_same_input_same_hashes_and_a_change_changes_them() -> None:
    first = {o.name: o.spec_hash for o in plan(stack()).objects()}
    assert {o.name: o.spec_hash for o in plan(stack()).objects()} == first
    bigger = {o.logical: o.spec_hash for o in plan(stack(resources={"memory": "1G"})).services}
    old = {o.logical: o.spec_hash for o in plan(stack()).services}
    assert all(bigger[k] != old[k] for k in old)


def service(state: DesiredState, name: str) -> dict[str, Any]:
    obj = next(s for s in state.services if s.logical == name)
    assert obj.spec is not None
    return dict(obj.spec)


def test_redis_service_body_is_hardened_pinned_and_labelled() -> None:
    s = stack(placement={"constraints": ["node.labels.redis == true"]}, update={"delay": "7s"})
    state = plan(s)
    spec = service(state, "node-4")
    assert spec["Name"] == "acme_node-4"
    assert spec["Labels"][labels.NODE] == "node-4"
    assert spec["Labels"][labels.ROLE] == "redis"
    assert spec["Labels"][labels.PLANNED_ROLE] == "replica"
    assert spec["Labels"][labels.SHARD] == "1"
    assert spec["Labels"][labels.STACK_NAMESPACE] == "acme"
    task = spec["TaskTemplate"]
    container = task["ContainerSpec"]
    assert container["Image"] == "redis:7.0"
    assert container["Labels"] == {labels.STACK_NAMESPACE: "acme"}
    assert container["User"] == "999:999"
    assert container["ReadOnly"] is True
    assert container["CapabilityDrop"] == ["ALL"]
    assert container["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert container["Args"] == ["redis-server", "/etc/redis/redis.conf"]
    assert container["Mounts"] == [
        {
            "Type": "volume",
            "Source": "acme_data-4",
            "Target": "/data",
            "VolumeOptions": {"Labels": {labels.STACK_NAMESPACE: "acme", labels.NODE: "node-4"}},
        }
    ]
    secrets = {ref["File"]["Name"]: ref for ref in container["Secrets"]}
    assert sorted(secrets) == [
        "ca.crt",
        "node-4.crt",
        "node-4.key",
        "replication-auth.conf",
        "users.acl",
    ]
    names = {x.logical: x.name for x in state.secrets}
    for logical, ref in secrets.items():
        assert ref == {
            "File": {"Name": logical, "UID": "999", "GID": "999", "Mode": 0o400},
            "SecretName": names[logical],
        }
    config_name = next(c.name for c in state.configs if c.logical == "redis-node-4.conf")
    assert container["Configs"] == [
        {
            "File": {"Name": "/etc/redis/redis.conf", "UID": "999", "GID": "999", "Mode": 0o444},
            "ConfigName": config_name,
        }
    ]
    assert task["Placement"] == {
        "Constraints": [f"node.id=={state.assignment.nodes['node-4']}", "node.labels.redis==true"]
    }
    assert task["Networks"] == [{"Target": "acme_net", "Aliases": ["acme-node-4"]}]
    assert task["Resources"] == {"Limits": {"MemoryBytes": 512 * 1024**2, "NanoCPUs": SECOND}}
    assert task["RestartPolicy"] == {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0}
    assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
    assert spec["UpdateConfig"] == {
        "Parallelism": 1,
        "Delay": 7 * SECOND,
        "FailureAction": "pause",
        "Monitor": 15 * SECOND,
        "Order": "stop-first",
    }
    assert spec["EndpointSpec"] == {
        "Mode": "dnsrr",
        "Ports": [
            {"Protocol": "tcp", "TargetPort": 6379, "PublishedPort": 7003, "PublishMode": "host"},
        ],
    }


def test_healthcheck_pings_over_tls_without_a_password() -> None:
    container = service(plan(stack()), "node-1")["TaskTemplate"]["ContainerSpec"]
    health = container["Healthcheck"]
    test = health["Test"]
    assert test[0] == "CMD-SHELL"
    assert "redis-cli --tls --cacert /run/secrets/ca.crt --cert /run/secrets/node-1.crt" in test[1]
    check = test[1].split("\n", 1)[0]  # the verdict; then the address healing (test_heal.py)
    assert "-p 6379 ping" in check
    assert "*PONG*|*NOAUTH*) ;; *) exit 1;; esac" in check
    assert "--user" not in check
    assert "-a " not in test[1] and "--pass" not in test[1]
    assert '--user "$u"' in test[1] and "REDISCLI_AUTH" in test[1]  # read from the secret
    assert container["Init"] is True  # reaps the healing step (plan/services.py)
    assert health["Retries"] == 3


def test_a_slow_sentinel_is_left_alone_for_two_minutes() -> None:
    state = plan(stack(mode="replication", replicas=2))
    retries = {
        s.name: s.spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Retries"]
        for s in state.services
    }
    assert {n: r for n, r in retries.items() if "sentinel" in n} == {
        f"acme_sentinel-{i}": 24 for i in (1, 2, 3)
    }
    assert {r for n, r in retries.items() if "sentinel" not in n} == {3}


def test_every_node_and_sentinel_bounds_a_dns_lookup_to_one_second() -> None:
    # Redis resolves on its main thread: an alias missing from the overlay DNS must
    # not stall a sentinel long enough for its health check to kill it.
    state = plan(stack(mode="replication", replicas=2))
    for name in ("node-1", "node-3", "sentinel-2"):
        container = service(state, name)["TaskTemplate"]["ContainerSpec"]
        assert container["DNSConfig"] == {"Options": ["timeout:1", "attempts:1"]}


def test_no_material_bytes_ever_reach_a_service_body() -> None:
    s = stack(mode="replication", replicas=2)
    state = plan(s)
    bodies = json.dumps([x.spec for x in state.services])
    for logical in required_material(s):
        assert f"secret bytes of {logical}" not in bodies
        encoded = base64.b64encode(f"secret bytes of {logical}".encode()).decode()
        assert encoded not in bodies


def test_announce_host_publishes_the_bus_port_too() -> None:
    spec = service(plan(stack(announce="host")), "node-2")
    assert spec["EndpointSpec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 6379, "PublishedPort": 7001, "PublishMode": "host"},
        {"Protocol": "tcp", "TargetPort": 16379, "PublishedPort": 17001, "PublishMode": "host"},
    ]


def test_publish_none_leaves_only_dnsrr_and_cpus_none_no_nanocpus() -> None:
    spec = service(plan(stack(access={"publish": "none"}, resources={"cpus": None})), "node-1")
    assert spec["EndpointSpec"] == {"Mode": "dnsrr"}
    assert spec["TaskTemplate"]["Resources"] == {"Limits": {"MemoryBytes": 512 * 1024**2}}


def test_sentinel_service_runs_from_a_copy_and_mounts_its_own_secrets() -> None:
    state = plan(stack(mode="replication", replicas=2))
    container = service(state, "sentinel-2")["TaskTemplate"]["ContainerSpec"]
    assert container["Command"][:2] == ["sh", "-c"]
    script = container["Command"][2]
    assert "cat /etc/redis/sentinel.conf /run/secrets/sentinel-auth.conf" in script
    assert "exec redis-server /data/sentinel.conf --sentinel" in script
    assert "Args" not in container
    assert [r["File"]["Name"] for r in container["Secrets"]] == [
        "ca.crt",
        "sentinel-2.crt",
        "sentinel-2.key",
        "sentinel-auth.conf",
    ]
    assert container["Configs"][0]["File"]["Name"] == "/etc/redis/sentinel.conf"
    assert container["Mounts"][0]["Source"] == "acme_sentinel-data-2"
    assert "-p 26379 ping" in container["Healthcheck"]["Test"][1]


def test_missing_material_makes_secrets_and_their_services_pending() -> None:
    s = stack()
    partial = {k: v for k, v in material(s).items() if k != "node-2.key"}
    state = desired_state(s, place(s, hosts()), partial)
    assert state.missing_material == ("node-2.key",)
    pending = [x.logical for x in state.objects() if x.pending]
    assert pending == ["node-2.key", "node-2"]
    node2 = next(x for x in state.services if x.logical == "node-2")
    assert node2.missing == ("node-2.key",)
    assert node2.spec_hash is None


def test_resolve_references_fills_ids_by_name() -> None:
    state = plan(stack())
    obj = state.services[0]
    assert obj.spec is not None
    ids = {x.name: f"ID-{x.name}" for x in (*state.secrets, *state.configs)}
    body = resolve_references(obj.spec, ids, ids)
    container = body["TaskTemplate"]["ContainerSpec"]
    assert all(r["SecretID"] == f"ID-{r['SecretName']}" for r in container["Secrets"])
    assert container["Configs"][0]["ConfigID"] == f"ID-{container['Configs'][0]['ConfigName']}"
    assert "SecretID" not in obj.spec["TaskTemplate"]["ContainerSpec"]["Secrets"][0]


def test_cluster_slots_are_in_the_desired_state_only_for_cluster_mode() -> None:
    assert plan(stack()).slots == {
        "node-1": (0, 5461),
        "node-2": (5462, 10922),
        "node-3": (10923, 16383),
    }
    assert plan(stack(mode="replication")).slots == {}


@pytest.mark.parametrize("mode", ["cluster", "replication", "standalone"])
def test_every_object_is_labelled_for_docker_stack(mode: str) -> None:
    for obj in plan(stack(mode=mode)).objects():
        assert obj.spec is not None
        assert obj.spec["Labels"][labels.STACK_NAMESPACE] == "acme"
        assert obj.spec["Labels"][labels.MANAGED] == "true"
        assert obj.spec["Labels"][labels.KIND] == obj.kind
        assert len(obj.name) <= 64
