"""`swarmredis render`: the plan as a compose file for `docker stack deploy` (pure).

``as_the_cli_reads_it`` turns a rendered service back into ServiceSpec fields the way the
Docker CLI does (docker/cli cli/compose/convert/service.go, 20.10): the round trip must
give back every field the planner wrote, except what compose cannot say (DNS options),
which the renderer lists for the adoption.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
import yaml
from testkit.swarmnodes import ready_hosts

from swarmredis import labels
from swarmredis.cli.render_cmd import compose_text
from swarmredis.engine.flows.render import external_objects
from swarmredis.plan.compose import NotRenderable, render_compose
from swarmredis.plan.diff import changed_paths, diff
from swarmredis.plan.objects import DesiredObject
from swarmredis.plan.observe import SwarmNode
from swarmredis.plan.placement import place
from swarmredis.plan.state import desired_state, required_material
from swarmredis.stackfile.model import Stack

_UNITS = {"ns": 1, "ms": 1_000_000, "s": 1_000_000_000}


def hosts(count: int = 3) -> list[SwarmNode]:
    return ready_hosts(count, lambda i: {"zone": f"z{i}"})


def planned(**fields: Any) -> Any:
    s = Stack.model_validate({"name": "acme", **fields})
    material = {name: f"bytes of {name}".encode() for name in required_material(s)}
    return diff(desired_state(s, place(s, hosts()), material), [])


def duration(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)(ns|ms|s)", text).groups()  # type: ignore[union-attr]
    return int(number) * _UNITS[unit]


def unescaped(value: Any) -> Any:
    """What the CLI's interpolation makes of the file: ``$$`` is a ``$``."""
    if isinstance(value, str):
        return value.replace("$$", "$")
    if isinstance(value, dict):
        return {k: unescaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescaped(v) for v in value]
    return value


def as_the_cli_reads_it(stack: str, key: str, doc: dict[str, Any]) -> dict[str, Any]:
    """One compose service as the ServiceSpec fields the CLI writes for it."""
    svc = doc["services"][key]
    deploy = svc["deploy"]
    container: dict[str, Any] = {
        "Image": svc["image"],
        "Labels": {**svc.get("labels", {}), labels.STACK_NAMESPACE: stack},
        "Hostname": svc["hostname"],
        "User": svc["user"],
        "Init": svc["init"],
        "ReadOnly": svc["read_only"],
        "CapabilityDrop": sorted(svc["cap_drop"]),
        "Mounts": [
            {
                "Type": "volume",
                "Source": doc["volumes"][m["source"]]["name"],
                "Target": m["target"],
                "VolumeOptions": {
                    "Labels": {
                        **doc["volumes"][m["source"]].get("labels", {}),
                        labels.STACK_NAMESPACE: stack,
                    }
                },
            }
            for m in svc["volumes"]
        ],
        "Secrets": [
            {
                "File": {"Name": r["target"], "UID": r["uid"], "GID": r["gid"], "Mode": r["mode"]},
                "SecretName": doc["secrets"][r["source"]]["name"],
            }
            for r in svc["secrets"]
        ],
        "Configs": [
            {
                "File": {"Name": r["target"], "UID": r["uid"], "GID": r["gid"], "Mode": r["mode"]},
                "ConfigName": doc["configs"][r["source"]]["name"],
            }
            for r in svc["configs"]
        ],
        "Healthcheck": {
            "Test": svc["healthcheck"]["test"],
            "Interval": duration(svc["healthcheck"]["interval"]),
            "Timeout": duration(svc["healthcheck"]["timeout"]),
            "Retries": svc["healthcheck"]["retries"],
            "StartPeriod": duration(svc["healthcheck"]["start_period"]),
        },
        "StopGracePeriod": duration(svc["stop_grace_period"]),
    }
    if "sysctls" in svc:
        container["Sysctls"] = svc["sysctls"]
    if "entrypoint" in svc:
        container["Command"] = svc["entrypoint"]
    if "command" in svc:
        container["Args"] = svc["command"]
    limits = deploy["resources"]["limits"]
    resources: dict[str, Any] = {"MemoryBytes": int(limits["memory"])}
    if "cpus" in limits:
        resources["NanoCPUs"] = int(float(limits["cpus"]) * 1e9)
    restart = deploy["restart_policy"]
    update = deploy["update_config"]
    spec: dict[str, Any] = {
        "Name": f"{stack}_{key}",
        "Labels": {**deploy["labels"], labels.STACK_NAMESPACE: stack},
        "TaskTemplate": {
            "ContainerSpec": container,
            "Resources": {"Limits": resources},
            "RestartPolicy": {
                "Condition": restart["condition"],
                "Delay": duration(restart["delay"]),
                "MaxAttempts": restart["max_attempts"],
            },
            "Placement": {"Constraints": deploy["placement"]["constraints"]},
            "Networks": [
                {
                    "Target": doc["networks"][name]["name"],
                    "Aliases": (attached or {}).get("aliases", []),
                }
                for name, attached in svc["networks"].items()
            ],
        },
        "Mode": {"Replicated": {"Replicas": deploy["replicas"]}},
        "UpdateConfig": {
            "Parallelism": update["parallelism"],
            "Delay": duration(update["delay"]),
            "FailureAction": update["failure_action"],
            "Monitor": duration(update["monitor"]),
            "Order": update["order"],
        },
        "EndpointSpec": {
            "Mode": deploy["endpoint_mode"],
            "Ports": [
                {
                    "Protocol": p["protocol"],
                    "TargetPort": p["target"],
                    "PublishedPort": p["published"],
                    "PublishMode": p["mode"],
                }
                for p in svc.get("ports", [])
            ],
        },
    }
    if not spec["EndpointSpec"]["Ports"]:
        del spec["EndpointSpec"]["Ports"]
    return spec


def without_dns(obj: DesiredObject) -> dict[str, Any]:
    spec = copy.deepcopy(dict(obj.spec or {}))
    del spec["TaskTemplate"]["ContainerSpec"]["DNSConfig"]
    return spec


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": "cluster", "shards": 3, "replicas": 1},
        {"mode": "replication", "replicas": 2},
        {"mode": "standalone", "resources": {"memory": "256m", "cpus": 0.5}},
        {"mode": "standalone", "network": {"mode": "host"}},
    ],
    ids=["cluster", "replication", "standalone", "host-network"],
)
def test_what_the_cli_reads_back_is_every_field_the_planner_wrote(fields: dict[str, Any]) -> None:
    plan = planned(**fields)
    rendered = render_compose(plan)
    # through the YAML text, as `docker stack deploy` gets it
    text = compose_text(rendered, "acme")
    doc = unescaped(yaml.safe_load(text))
    assert doc["version"] == "3.8"
    assert set(doc["services"]) == {o.logical for o in plan.desired.services}
    for obj in plan.desired.services:
        back = as_the_cli_reads_it("acme", obj.logical, doc)
        assert changed_paths(without_dns(obj), back) == (), obj.logical
    assert any("DNS options timeout:1 attempts:1" in item for item in rendered.adopted_later)


def test_the_file_holds_no_secret_and_no_spec_hash_and_declares_every_object_external() -> None:
    plan = planned(mode="cluster", shards=3, replicas=1)
    doc = render_compose(plan).document
    text = compose_text(render_compose(plan), "acme")
    assert labels.SPEC_HASH not in text  # a CLI-made service must not plan as "matches"
    assert "bytes of" not in text  # material stays in Swarm secrets
    for block in ("secrets", "configs", "networks"):
        assert all(v["external"] is True for v in doc[block].values()), block
    names = {o.name for o in (*plan.desired.secrets, *plan.desired.configs)}
    assert {v["name"] for v in (*doc["secrets"].values(), *doc["configs"].values())} == names


def test_every_dollar_is_doubled_for_the_cli_interpolation() -> None:
    plan = planned(mode="cluster", shards=3, replicas=1)
    doc = render_compose(plan).document
    check = doc["services"]["node-1"]["healthcheck"]["test"][1]
    assert "$" in check and not re.search(r"(?<!\$)\$(?!\$)", check.replace("$$", ""))
    spec = next(o.spec for o in plan.desired.services if o.logical == "node-1")
    assert spec is not None
    assert unescaped(check) == spec["TaskTemplate"]["ContainerSpec"]["Healthcheck"]["Test"][1]


def test_a_plan_without_its_material_is_not_rendered() -> None:
    s = Stack.model_validate({"name": "acme", "mode": "standalone"})
    plan = diff(desired_state(s, place(s, hosts()), {}), [])
    with pytest.raises(NotRenderable, match=r"material missing for: .*ca\.crt"):
        render_compose(plan)


def test_a_field_the_renderer_does_not_know_is_refused_not_dropped() -> None:
    plan = planned(mode="standalone")
    obj = plan.desired.services[0]
    assert obj.spec is not None
    spec = copy.deepcopy(dict(obj.spec))
    spec["TaskTemplate"]["ContainerSpec"]["Ulimits"] = [{"Name": "nofile"}]
    odd = DesiredObject(obj.kind, obj.name, obj.logical, spec, obj.spec_hash)
    broken = type(plan)(
        desired=type(plan.desired)(
            **{**plan.desired.__dict__, "services": (odd,)}  # type: ignore[arg-type]
        ),
        items=plan.items,
    )
    with pytest.raises(NotRenderable, match=r"TaskTemplate\.ContainerSpec\.Ulimits"):
        render_compose(broken)


def test_secrets_push_creates_the_network_secrets_and_configs_and_never_a_service() -> None:
    plan = planned(mode="cluster", shards=3, replicas=1)
    pushed = external_objects(plan)
    assert {c.kind for c in pushed.items} == {"network", "secret", "config"}
    assert all(c.action == "create" for c in pushed.items)
    doc = render_compose(plan).document
    declared = {v["name"] for b in ("networks", "secrets", "configs") for v in doc[b].values()}
    assert {c.name for c in pushed.items} == declared  # exactly what the file needs
