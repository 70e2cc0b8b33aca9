"""Runner of the data-driven planner cases in tests/cases/<case>/.

Each case folder holds:

- ``stack.yaml``: the stack file to plan.
- ``observed.json``: ``nodes`` (raw ``GET /nodes`` items) and optionally
  ``deployed`` -- ``{"stack": "<file in the case>", "nodes": [raw nodes]}``:
  the objects a previous deploy of that stack on those nodes left behind,
  rendered the way the Docker API returns them (ids, versions, defaults it
  fills in, network ids instead of names) -- and ``objects``: extra raw
  objects by kind.
- ``options.json`` (optional): ``allow_colocation``, ``prune``, ``material``
  (``"all"`` default, or ``"none"`` when no certificates exist yet).
- ``expected.json``: ``assignment`` (logical node -> hostname), ``changes``,
  ``actions`` (action -> sorted ``kind:logical`` list), ``fields`` (update
  ``kind:logical`` -> spec paths), ``warnings`` (substrings), or ``error``
  (substring of the ``PlacementError``).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from swarmredis.errors import PlacementError
from swarmredis.plan import (
    DesiredState,
    desired_state,
    diff,
    observed_objects,
    place,
    previous_assignment,
    required_material,
    resolve_references,
    swarm_node,
)
from swarmredis.stackfile import Stack, load_stack

CASES = Path(__file__).resolve().parents[1] / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "expected.json").is_file())


def fake_material(stack: Stack) -> dict[str, bytes]:
    """Material as bytes: content is data here, each name gets distinct bytes."""
    return {name: f"{name} of {stack.name}\n".encode() for name in required_material(stack)}


def as_observed(state: DesiredState) -> dict[str, list[dict[str, Any]]]:
    """The raw API objects a faithful apply of ``state`` leaves on the Swarm."""
    net_id = "net-" + hashlib.sha256(state.network.name.encode()).hexdigest()[:12]
    assert state.network.spec is not None
    raw: dict[str, list[dict[str, Any]]] = {
        "network": [_network(state.network.spec, net_id)],
        "secret": [],
        "config": [],
        "service": [],
    }
    ids: dict[str, dict[str, str]] = {"secret": {}, "config": {}}
    for obj in (*state.secrets, *state.configs):
        assert obj.spec is not None
        ids[obj.kind][obj.name] = f"{obj.kind[:3]}-{obj.name}"
        spec = {k: v for k, v in obj.spec.items() if not (obj.kind == "secret" and k == "Data")}
        item = {"ID": ids[obj.kind][obj.name], "Version": {"Index": 11}, "Spec": spec}
        raw[obj.kind].append(item)
    for obj in state.services:
        assert obj.spec is not None
        spec = resolve_references(obj.spec, ids["secret"], ids["config"])
        _engine_defaults(spec, {state.network.name: net_id})
        raw["service"].append({"ID": f"svc-{obj.name}", "Version": {"Index": 42}, "Spec": spec})
    return raw


def _network(spec: Mapping[str, Any], net_id: str) -> dict[str, Any]:
    out = {k: v for k, v in spec.items() if k != "CheckDuplicate"}
    out.update({"Id": net_id, "Scope": "swarm", "Internal": False})
    out.setdefault("Options", {"com.docker.network.driver.overlay.vxlanid_list": "4097"})
    out.setdefault("IPAM", {"Driver": "default", "Config": [{"Subnet": "10.0.1.0/24"}]})
    return out


def _engine_defaults(spec: dict[str, Any], network_ids: Mapping[str, str]) -> None:
    """What dockerd adds to a stored service spec (seen in `docker service inspect`)."""
    task = spec["TaskTemplate"]
    task["ContainerSpec"]["Isolation"] = "default"
    task["ForceUpdate"] = 0
    task["Runtime"] = "container"
    task["Placement"]["Platforms"] = [{"Architecture": "amd64", "OS": "linux"}]
    for net in task["Networks"]:
        net["Target"] = network_ids[net["Target"]]
    spec["RollbackConfig"] = {"Parallelism": 1, "FailureAction": "pause", "Order": "stop-first"}


def load_case(name: str) -> tuple[Stack, list[Any], list[Any], dict[str, Any], dict[str, Any]]:
    """The inputs and expectations of one case folder."""
    folder = CASES / name
    stack = load_stack(folder / "stack.yaml")
    observed = json.loads((folder / "observed.json").read_text())
    options_file = folder / "options.json"
    options = json.loads(options_file.read_text()) if options_file.is_file() else {}
    expected = json.loads((folder / "expected.json").read_text())
    raw: dict[str, list[Any]] = {k: [] for k in ("network", "secret", "config", "service")}
    if "deployed" in observed:
        deployed = observed["deployed"]
        before = load_stack(folder / deployed["stack"])
        nodes_then = [swarm_node(n) for n in deployed.get("nodes", observed["nodes"])]
        state = desired_state(before, place(before, nodes_then), fake_material(before))
        for kind, items in as_observed(state).items():
            raw[kind] += items
    for kind, items in observed.get("objects", {}).items():
        raw[kind] += copy.deepcopy(items)
    objects = list(observed_objects(raw))
    nodes = [swarm_node(n) for n in observed["nodes"]]
    return stack, nodes, objects, options, expected


def summary(actions: Sequence[Any]) -> dict[str, list[str]]:
    """action -> sorted ``kind:logical`` of the plan's items."""
    out: dict[str, list[str]] = {}
    for change in actions:
        out.setdefault(change.action, []).append(f"{change.kind}:{change.logical}")
    return {action: sorted(items) for action, items in sorted(out.items())}


@pytest.mark.parametrize("name", CASE_NAMES)
def test_case(name: str) -> None:
    stack, nodes, objects, options, expected = load_case(name)
    material = {} if options.get("material") == "none" else fake_material(stack)
    colocate = options.get("allow_colocation", False)
    run = lambda: desired_state(  # noqa: E731
        stack, place(stack, nodes, previous_assignment(objects), colocate), material
    )
    if "error" in expected:
        with pytest.raises(PlacementError) as caught:
            run()
        assert expected["error"] in str(caught.value)
        return
    plan = diff(run(), objects, prune=options.get("prune", False))
    hostnames = plan.desired.assignment.hostnames
    assert dict(hostnames) == expected["assignment"]
    assert summary(plan.items) == expected["actions"]
    assert plan.changes == expected["changes"]
    fields = {f"{c.kind}:{c.logical}": list(c.fields) for c in plan.by_action("update")}
    assert fields == expected.get("fields", {})
    for text in expected.get("warnings", []):
        assert any(text in w for w in plan.desired.warnings), (text, plan.desired.warnings)
    if not expected.get("warnings"):
        assert plan.desired.warnings == ()
    json.dumps(plan.to_dict())  # JSON-serialisable


def test_there_are_cases() -> None:
    assert len(CASE_NAMES) >= 10
