"""Observed-object converters, the diff's edge cases, and the purity of stackfile/ and plan/."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from testkit.swarmnodes import ready_hosts

from swarmredis import labels, plan
from swarmredis.plan import (
    desired_state,
    diff,
    observed_objects,
    place,
    previous_assignment,
    required_material,
    swarm_node,
)
from swarmredis.plan.diff import changed_paths, network_recreate_refusal
from swarmredis.plan.observe import SwarmNode, observed_object
from swarmredis.stackfile.model import Stack

PACKAGE = Path(__file__).resolve().parents[2] / "swarmredis"
NODES = ready_hosts(3)


def stack(**fields: Any) -> Stack:
    return Stack.model_validate({"name": "acme", **fields})


def test_exports_are_sorted_and_present() -> None:
    assert plan.__all__ == sorted(plan.__all__)
    assert all(hasattr(plan, name) for name in plan.__all__)


def test_swarm_node_reads_a_manager_with_an_unspecified_status_address() -> None:
    raw = {
        "ID": "abc",
        "Version": {"Index": 9},
        "Spec": {"Labels": {"zone": "z1"}, "Role": "manager", "Availability": "active"},
        "Description": {"Hostname": "lab-h1", "Engine": {"EngineVersion": "24.0.7"}},
        "Status": {"State": "ready", "Addr": "0.0.0.0"},
        "ManagerStatus": {"Leader": True, "Addr": "10.1.0.1:2377"},
    }
    assert swarm_node(raw) == SwarmNode(
        id="abc",
        hostname="lab-h1",
        role="manager",
        availability="active",
        state="ready",
        addr="10.1.0.1",
        labels={"zone": "z1"},
        engine_version="24.0.7",
    )


def test_swarm_node_tolerates_missing_fields() -> None:
    node = swarm_node({"ID": "x"})
    assert (node.role, node.availability, node.state, node.addr) == (
        "worker",
        "active",
        "unknown",
        "",
    )


def test_observed_objects_for_each_kind() -> None:
    service = observed_object(
        "service",
        {
            "ID": "s1",
            "Version": {"Index": 77},
            "Spec": {
                "Name": "acme_node-1",
                "Labels": {labels.NODE: "node-1", labels.SPEC_HASH: "h"},
                "TaskTemplate": {
                    "Placement": {"Constraints": ["node.labels.a==b", "node.id == id2"]}
                },
            },
        },
    )
    assert (service.id, service.name, service.version) == ("s1", "acme_node-1", 77)
    assert (service.logical, service.spec_hash) == ("node-1", "h")
    assert previous_assignment([service]) == {"node-1": "id2"}
    network = observed_object("network", {"Name": "acme_net", "Id": "n1", "Labels": None})
    assert (network.id, network.version, network.labels) == ("n1", None, {})
    secret = observed_object(
        "secret", {"ID": "x", "Spec": {"Name": "acme_ca.crt.1", "Labels": {labels.LOGICAL: "ca"}}}
    )
    assert secret.logical == "ca"
    ordered = observed_objects(
        {"service": [{"ID": "b", "Spec": {"Name": "b"}}], "network": [{"Name": "a", "Id": "a"}]}
    )
    assert [o.kind for o in ordered] == ["network", "service"]


def test_changed_paths_compares_only_what_the_plan_writes() -> None:
    want = {"A": {"B": 1, "C": [{"X": 1}, {"X": 2}]}, "D": "d", "SecretID": "ignored"}
    have = {"A": {"B": 2, "C": [{"X": 1, "Extra": 0}, {"X": 3}], "Z": 9}, "D": "d"}
    assert changed_paths(want, have) == ("A.B", "A.C[1].X")
    assert changed_paths({"L": [1, 2]}, {"L": [1]}) == ("L",)
    assert changed_paths({"Labels": {labels.SPEC_HASH: "a"}}, {"Labels": {}}) == ()


def _raw_network(spec: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**{k: v for k, v in spec.items() if k != "CheckDuplicate"}, "Id": "net1", **changes}


def test_network_with_another_hash_is_recreated_listing_fields() -> None:
    before, after = stack(), stack(network={"encrypted": True})
    old = desired_state(before, place(before, NODES), {})
    new = desired_state(after, place(after, NODES), {})
    assert old.network.spec is not None
    observed = observed_objects({"network": [_raw_network(dict(old.network.spec))]})
    change = diff(new, observed).items[0]
    assert (change.kind, change.action, change.recreate, change.id) == (
        "network",
        "update",
        True,
        "net1",
    )
    assert change.fields == ("Options",)


def _attachable_network_of_before(*services: str, **fields: Any) -> tuple[Any, list[Any]]:
    """A stack deployed when every network was attachable, planned again with ``fields``
    (default: no network.attachable); ``services``: those that already exist."""
    after = stack(**fields)
    new = desired_state(after, place(after, NODES), {})
    assert new.network.spec is not None
    raw = _raw_network(dict(new.network.spec), Attachable=True)
    raw["Labels"] = {**raw["Labels"], labels.SPEC_HASH: "hash-of-an-attachable-network"}
    running = [
        {"ID": f"s-{name}", "Version": {"Index": 1}, "Spec": {"Name": f"acme_{name}"}}
        for name in services
    ]
    for body in running:
        body["Spec"]["Labels"] = {labels.NODE: body["Spec"]["Name"].removeprefix("acme_")}
    return new, observed_objects({"network": [raw], "service": running})


CLOSED = {"network": {"name": "acme_net", "attachable": False}}


def test_a_network_from_before_attachable_existed_stays_as_it_is() -> None:
    """Upgrading must not refuse every deployed stack's next deploy: unless the stack file
    asks for network.attachable, an attachable network of before is kept."""
    new, observed = _attachable_network_of_before("node-1", "node-2")
    change = diff(new, observed).items[0]
    assert (change.kind, change.action, change.recreate) == ("network", "noop", False)


def test_attachable_change_of_a_network_in_use_is_refused_naming_the_field() -> None:
    new, observed = _attachable_network_of_before("node-1", "node-2", **CLOSED)
    result = diff(new, observed)
    change = result.items[0]
    assert (change.kind, change.action, change.recreate, change.fields) == (
        "network",
        "update",
        True,
        ("Attachable",),
    )
    assert change.reason == "network.attachable changed; networks are immutable: recreate"
    refusal = network_recreate_refusal(result)
    assert refusal is not None
    assert refusal.exit_code == 2
    assert str(refusal) == (
        "network acme_net must be recreated (network.attachable changed; Docker cannot"
        " change a network in place) but services use it: acme_node-1, acme_node-2"
        " (set network.attachable: true to keep the network as it is, or run"
        " `swarmredis rm acme` (volumes are kept), then deploy)"
    )


def test_attachable_change_without_services_recreates_the_network() -> None:
    new, observed = _attachable_network_of_before(**CLOSED)
    result = diff(new, observed)
    assert result.items[0].recreate is True
    assert network_recreate_refusal(result) is None


def test_unchanged_network_needs_no_recreate() -> None:
    s = stack()
    state = desired_state(s, place(s, NODES), {})
    assert state.network.spec is not None
    raw = _raw_network(dict(state.network.spec))
    assert network_recreate_refusal(diff(state, observed_objects({"network": [raw]}))) is None


def test_pending_secret_that_exists_is_not_removed_and_says_why() -> None:
    s = stack(mode="standalone")
    material = {k: b"x" for k in required_material(s) if k != "users.acl"}
    state = desired_state(s, place(s, NODES), material)
    existing = {
        "ID": "sec1",
        "Spec": {"Name": "acme_users.acl.0123abcd", "Labels": {labels.LOGICAL: "users.acl"}},
    }
    result = diff(state, observed_objects({"secret": [existing]}))
    users = [c for c in result.items if c.logical == "users.acl"]
    assert [(c.action, c.reason) for c in users] == [
        (
            "pending",
            "material missing locally, cannot compare (to be generated by "
            "`swarmredis certs issue`)",
        ),
    ]
    assert result.changes == len([c for c in result.items if c.action != "noop"])


def test_foreign_network_of_the_stack_is_orphaned_or_pruned() -> None:
    state = desired_state(stack(), place(stack(), NODES), {})
    old = {"Name": "acme_old", "Id": "n0", "Labels": {labels.STACK_NAMESPACE: "acme"}}
    raw = {"network": [old]}
    kept = diff(state, observed_objects(raw)).by_action("orphan")
    assert [(c.name, c.reason) for c in kept] == [
        ("acme_old", "no longer in the stack file; kept (use --prune to remove)"),
    ]
    removed = diff(state, observed_objects(raw), prune=True).by_action("remove")
    assert [(c.name, c.after_update) for c in removed] == [("acme_old", True)]


def test_plan_to_dict_is_json() -> None:
    s = stack()
    state = desired_state(s, place(s, NODES), {k: b"x" for k in required_material(s)})
    data = diff(state, ()).to_dict()
    assert json.loads(json.dumps(data))["changes"] == data["changes"] == 28
    assert data["assignment"][0] == {
        "node": "node-1",
        "role": "primary",
        "shard": 1,
        "primary": None,
        "swarm_node": "id1",
        "hostname": "h1",
        "domain": "id1",
        "address": "10.0.0.1",
        "published_port": 7000,
        "kept": False,
        "retiring": False,
    }


FORBIDDEN = (
    "anyio",
    "aiodocker",
    "aiohttp",
    "redis",
    "typer",
    "rich",
    "swarmredis.cli",
    "swarmredis.gateway",
    "swarmredis.engine",
    "swarmredis.pki",
)


def test_stackfile_and_plan_import_nothing_effectful() -> None:
    for folder in ("stackfile", "plan"):
        for path in sorted((PACKAGE / folder).glob("*.py")):
            tree = ast.parse(path.read_text())
            for item in ast.walk(tree):
                names: list[str] = []
                if isinstance(item, ast.Import):
                    names = [alias.name for alias in item.names]
                elif isinstance(item, ast.ImportFrom) and item.module:
                    names = [item.module]
                for name in names:
                    bad = [f for f in FORBIDDEN if name == f or name.startswith(f + ".")]
                    assert not bad, f"{path.name} imports {name}"
