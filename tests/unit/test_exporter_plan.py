"""The metrics exporter as a Swarm service (``metrics: {enabled: true}``): its stack-file
section, its objects and targets document, and what a deploy does with them (pure)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from testkit.swarmnodes import ready_hosts

from swarmredis import labels
from swarmredis.errors import SpecError
from swarmredis.plan.exporter import (
    SECRET_FILES,
    TARGETS_PATH,
    CertExpiry,
    ExporterState,
    exporter_changes,
    exporter_state,
)
from swarmredis.plan.observe import ObservedObject, observed_object
from swarmredis.plan.placement import place
from swarmredis.plan.state import DesiredState, desired_state, required_material
from swarmredis.stackfile.load import load_stack
from swarmredis.stackfile.model import Stack

METRICS = {"enabled": True, "port": 9650, "image": "swarmredis-exporter:lab"}
EXPIRY = (CertExpiry("ca", "ca", "2027-01-01T00:00:00+00:00"), CertExpiry("node", "node-1", None))


def state(**fields: Any) -> DesiredState:
    s = Stack.model_validate({"name": "acme", "metrics": METRICS, **fields})
    material = {name: f"bytes of {name}".encode() for name in required_material(s)}
    return desired_state(s, place(s, ready_hosts(3, lambda i: {"zone": f"z{i}"})), material)


def exporter(of: DesiredState, password: bytes = b"pw") -> ExporterState:
    material = {name: f"bytes of {name}".encode() for name in SECRET_FILES}
    material["metrics-monitor.password"] = password
    return exporter_state(of, material, EXPIRY)


def document(of: ExporterState) -> dict[str, Any]:
    assert of.config.spec is not None
    return json.loads(base64.b64decode(of.config.spec["Data"]))  # type: ignore[no-any-return]


def observed(of: ExporterState) -> list[ObservedObject]:
    """The exporter's objects as the Swarm lists them once created."""
    out = []
    for i, obj in enumerate(of.objects()):
        assert obj.spec is not None
        out.append(
            observed_object(obj.kind, {"ID": f"id{i}", "Version": {"Index": 3}, "Spec": obj.spec})
        )
    return out


def test_metrics_enabled_needs_an_image_and_a_port_no_node_publishes(tmp_path: Any) -> None:
    path = tmp_path / "s.yaml"
    base = "name: acme\nshards: 3\nreplicas: 1\nnetwork: {name: acme_net}\n"
    path.write_text(base + "metrics: {enabled: true}\n")
    with pytest.raises(SpecError, match=r"metrics\.image: is required when metrics\.enabled"):
        load_stack(path)
    path.write_text(base + "metrics: {enabled: true, image: 'x:1', port: 7003}\n")
    with pytest.raises(SpecError, match=r"metrics\.port: 7003 is among the nodes' published"):
        load_stack(path)
    path.write_text(base + "metrics: {enabled: true, image: 'x:1', port: 2377}\n")
    with pytest.raises(SpecError, match=r"metrics\.port: 2377 is the port of"):
        load_stack(path)
    path.write_text(base + "metrics: {image: 'x:1', port: 7003}\n")  # not enabled: unused
    assert not load_stack(path).metrics.enabled


def test_the_service_runs_the_exporter_on_a_manager_with_no_docker_socket() -> None:
    ex = exporter(state(shards=3, replicas=1))
    spec = ex.service.spec
    assert spec is not None and spec["Name"] == "acme_metrics"
    assert spec["Labels"][labels.PART] == "metrics" and labels.NODE not in spec["Labels"]
    task = spec["TaskTemplate"]
    container = task["ContainerSpec"]
    assert container["Image"] == "swarmredis-exporter:lab"
    assert container["Command"] == [
        *("python3", "-m", "swarmredis", "exporter", TARGETS_PATH),
        *("--listen", "0.0.0.0:9650"),
    ]
    assert "Mounts" not in container  # no docker socket, no volume
    assert container["ReadOnly"] and container["CapabilityDrop"] == ["ALL"]
    assert task["Placement"]["Constraints"] == ["node.role == manager"]
    assert task["Networks"] == [{"Target": "acme_net", "Aliases": ["acme-metrics"]}]
    assert spec["EndpointSpec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 9650, "PublishedPort": 9650, "PublishMode": "host"}
    ]
    mounted = {s["File"]["Name"] for s in container["Secrets"]}
    assert mounted == {"ca.crt", "monitor.crt", "monitor.key", "monitor.password"}
    assert {s["SecretName"] for s in container["Secrets"]} == {s.name for s in ex.secrets}
    assert all(s.spec and s.spec["Labels"][labels.PART] == "metrics" for s in ex.secrets)


def test_the_targets_document_lists_every_node_that_stays_as_the_exporter_dials_it() -> None:
    doc = document(exporter(state(shards=3, replicas=1)))
    assert doc["stack"] == "acme" and doc["mode"] == "cluster"
    targets = {t["name"]: t for t in doc["targets"]}
    assert sorted(targets) == [f"node-{i}" for i in range(1, 7)]
    assert targets["node-4"] == {
        "name": "node-4",
        "role": "replica",
        "primary": targets["node-4"]["primary"],
        "host": "acme-node-4",
        "port": 6379,
        "server_name": "acme-node-4",
    }
    assert targets["node-4"]["primary"] in ("node-1", "node-2", "node-3")
    assert doc["certificates"][0] == {
        "kind": "ca",
        "name": "ca",
        "not_after": "2027-01-01T00:00:00+00:00",
    }
    assert doc["credentials"]["password"] == "/run/secrets/monitor.password"


def test_replication_targets_name_the_sentinels_and_host_network_dials_host_addresses() -> None:
    doc = document(exporter(state(mode="replication", replicas=1)))
    roles = {t["name"]: t["role"] for t in doc["targets"]}
    assert roles["sentinel-1"] == "sentinel" and roles["node-1"] == "primary"
    hosted = state(mode="replication", replicas=1, network={"mode": "host", "name": "host"})
    doc = document(exporter(hosted))
    node = next(t for t in doc["targets"] if t["name"] == "node-1")
    assert node["host"] == hosted.assignment.addresses["node-1"]
    spec = exporter(hosted).service.spec
    assert spec is not None and "Ports" not in spec["EndpointSpec"]


def test_the_first_deploy_creates_everything_and_the_next_changes_nothing() -> None:
    ex = exporter(state(shards=3, replicas=1))
    first = exporter_changes(ex, [])
    assert [(c.kind, c.action) for c in first] == [("secret", "create")] * 4 + [
        ("config", "create"),
        ("service", "create"),
    ]
    again = exporter_changes(ex, observed(ex))
    assert {c.action for c in again} == {"noop"}


def test_a_new_password_makes_a_new_secret_version_updates_the_service_then_drops_the_old() -> None:
    old = exporter(state(shards=3, replicas=1))
    new = exporter(state(shards=3, replicas=1), password=b"rotated")
    changes = exporter_changes(new, observed(old))
    actions = {(c.logical, c.action) for c in changes}
    assert ("metrics-monitor.password", "create") in actions
    assert ("metrics", "update") in actions
    removed = [c for c in changes if c.action == "remove"]
    assert [c.logical for c in removed] == ["metrics-monitor.password"]
    assert removed[0].after_update and changes.index(removed[0]) > len(changes) - 2


def test_metrics_disabled_removes_what_an_earlier_deploy_made_service_first() -> None:
    ex = exporter(state(shards=3, replicas=1))
    changes = exporter_changes(None, observed(ex))
    assert changes[0].kind == "service"
    assert {c.action for c in changes} == {"remove"} and len(changes) == 6
    assert exporter_changes(None, []) == ()
