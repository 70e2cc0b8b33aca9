"""Placement: eligibility, anti-affinity, balance, stability and slot ranges."""

from __future__ import annotations

from typing import Any

import pytest

from swarmredis.errors import PlacementError
from swarmredis.plan.observe import SwarmNode
from swarmredis.plan.placement import (
    CLUSTER_SLOTS,
    eligible_nodes,
    matches,
    place,
    slot_ranges,
)
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.rules import parse_constraint


def host(i: int, **kw: Any) -> SwarmNode:
    defaults: dict[str, Any] = {
        "id": f"id{i}",
        "hostname": f"h{i}",
        "role": "worker",
        "availability": "active",
        "state": "ready",
        "addr": f"10.0.0.{i}",
        "labels": {},
    }
    return SwarmNode(**{**defaults, **kw})


def stack(**fields: Any) -> Stack:
    return Stack.model_validate({"name": "acme", **fields})


@pytest.mark.parametrize(
    ("constraint", "node", "expected"),
    [
        ("node.labels.redis == true", host(1, labels={"redis": "true"}), True),
        ("node.labels.redis == true", host(1, labels={"redis": "TRUE"}), True),
        ("node.labels.redis == true", host(1), False),
        ("node.labels.redis != true", host(1), True),
        ("node.role == manager", host(1, role="manager"), True),
        ("node.role != manager", host(1, role="manager"), False),
        ("node.hostname == h2", host(2), True),
        ("node.id != id3", host(3), False),
    ],
)
def test_constraints_match_like_swarm(constraint: str, node: SwarmNode, expected: bool) -> None:
    assert matches(node, parse_constraint(constraint)) is expected


def test_eligible_nodes_skip_drained_down_and_unlabelled() -> None:
    nodes = [
        host(1, labels={"zone": "a"}),
        host(2, availability="drain", labels={"zone": "b"}),
        host(3, state="down", labels={"zone": "b"}),
        host(4),
        host(5, labels={"zone": "b", "redis": "false"}),
    ]
    s = stack(placement={"spread": "node.labels.zone", "constraints": ["node.labels.redis!=false"]})
    eligible, notes = eligible_nodes(s, nodes)
    assert [n.id for n in eligible] == ["id1"]
    assert notes == [
        "h2 (id2) is drain/ready",
        "h3 (id3) is active/down",
        "h4 (id4) has no node.labels.zone label",
    ]


def test_three_hosts_get_one_primary_and_one_foreign_replica_each() -> None:
    a = place(stack(), [host(3), host(1), host(2)])
    assert dict(a.nodes) == {
        "node-1": "id1",
        "node-2": "id2",
        "node-3": "id3",
        "node-4": "id2",
        "node-5": "id3",
        "node-6": "id1",
    }
    assert a.hostnames["node-4"] == "h2"
    assert a.addresses["node-4"] == "10.0.0.2"
    assert a.kept == ()


def test_zones_with_several_hosts_balance_hosts_inside_a_zone() -> None:
    nodes = [host(i, labels={"zone": "ab"[i % 2]}) for i in range(1, 5)]
    a = place(stack(shards=4, placement={"spread": "node.labels.zone"}), nodes)
    for shard in range(1, 5):
        replica = f"node-{4 + shard}"
        assert a.domains[f"node-{shard}"] != a.domains[replica]
    per_host = sorted(list(a.nodes.values()).count(f"id{i}") for i in range(1, 5))
    assert per_host == [2, 2, 2, 2]


def test_replanning_keeps_everything_and_adding_hosts_moves_nothing() -> None:
    first = place(stack(replicas=2), [host(i) for i in range(1, 4)])
    again = place(stack(replicas=2), [host(i) for i in range(1, 6)], previous=first.nodes)
    assert again.nodes == first.nodes
    assert set(again.kept) == set(first.nodes)


def test_lost_host_moves_only_its_nodes() -> None:
    first = place(stack(), [host(i) for i in range(1, 5)])
    gone = first.nodes["node-1"]
    survivors = [host(i) for i in range(1, 5) if f"id{i}" != gone]
    second = place(stack(), survivors, previous=first.nodes)
    moved = {n for n in first.nodes if first.nodes[n] != second.nodes[n]}
    assert moved == {n for n, sid in first.nodes.items() if sid == gone}
    assert second.domains["node-1"] != second.domains["node-4"]


def test_previous_placement_breaking_anti_affinity_is_repaired() -> None:
    previous = {"node-1": "id1", "node-4": "id1"}  # a primary with its own replica
    a = place(stack(), [host(i) for i in range(1, 4)], previous=previous)
    assert a.nodes["node-1"] == "id1"
    assert a.nodes["node-4"] != "id1"
    assert "node-4" not in a.kept


def test_too_few_domains_is_refused_with_the_numbers() -> None:
    nodes = [host(i, labels={"zone": f"z{i % 2}"}) for i in range(1, 5)]
    with pytest.raises(PlacementError) as caught:
        place(stack(replicas=2, placement={"spread": "node.labels.zone"}), nodes)
    assert "needs 3 spread domains (node.labels.zone)" in str(caught.value)
    assert "only 2 are available: z0, z1" in str(caught.value)


def test_allow_colocation_warns_and_still_avoids_sharing_hosts() -> None:
    nodes = [host(i, labels={"zone": f"z{i % 2}"}) for i in range(1, 5)]
    s = stack(replicas=2, placement={"spread": "node.labels.zone"})
    a = place(s, nodes, allow_colocation=True)
    assert any("needs 3 spread domains" in w for w in a.warnings)
    assert any("of one shard share spread domain" in w for w in a.warnings)
    for shard in range(1, 4):
        members = [f"node-{shard}", f"node-{2 + 2 * shard}", f"node-{3 + 2 * shard}"]
        hosts = {a.nodes[m] for m in members}
        assert len(hosts) == 3, members


def test_no_eligible_node_is_an_error_naming_the_constraints() -> None:
    s = stack(placement={"constraints": ["node.labels.redis == true"]})
    with pytest.raises(PlacementError, match=r"no eligible Swarm node for stack acme: 2 node"):
        place(s, [host(1), host(2, state="down")])


def test_sentinels_spread_over_hosts() -> None:
    s = stack(mode="replication", replicas=2, sentinel={"count": 3})
    a = place(s, [host(i) for i in range(1, 4)])
    assert {a.nodes[f"sentinel-{j}"] for j in (1, 2, 3)} == {"id1", "id2", "id3"}
    assert len({a.nodes[f"node-{j}"] for j in (1, 2, 3)}) == 3


def test_standalone_needs_one_host() -> None:
    assert dict(place(stack(mode="standalone"), [host(1)]).nodes) == {"node-1": "id1"}


def test_slot_ranges_match_the_first_shards_get_the_extra_slot_rule() -> None:
    assert slot_ranges(3) == ((0, 5461), (5462, 10922), (10923, 16383))
    assert slot_ranges(1) == ((0, 16383),)


@pytest.mark.parametrize("shards", [1, 3, 5, 7, 16, 100])
def test_slot_ranges_cover_every_slot_once_and_differ_by_at_most_one(shards: int) -> None:
    ranges = slot_ranges(shards)
    covered = [s for first, last in ranges for s in range(first, last + 1)]
    assert covered == list(range(CLUSTER_SLOTS))
    sizes = [last - first + 1 for first, last in ranges]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)
