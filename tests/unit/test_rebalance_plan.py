"""Scale-out decisions (pure): a new shard's replica follows its empty primary, the slots
move to even shares, and status says which primaries do not hold one."""

from __future__ import annotations

import pytest

from swarmredis.engine.modes.cluster.health import judge_cluster
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.moves import rebalance_moves, serving_primaries
from swarmredis.engine.modes.cluster.plan import plan_replicas
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.replies import ClusterNode, Role, SlotRange, parse_cluster_info
from swarmredis.engine.redis.verdict import HealthTarget, Probe, node_line
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.plan.slots import SlotMove, SlotPlanError

THREE = {"node-1": ((0, 5460),), "node-2": ((5461, 10922),), "node-3": ((10923, 16383),)}
HEADS = {"node-4": "node-1", "node-5": "node-2", "node-6": "node-3", "node-8": "node-7"}
OK = parse_cluster_info("cluster_state:ok\r\ncluster_slots_ok:16384\r\n")


def member(name: str) -> ClusterMember:
    head = HEADS.get(name)
    return ClusterMember(
        name=name,
        endpoint=RedisEndpoint("192.168.77.11", 7000),
        meet_ip="10.0.1.1",
        meet_port=7000,
        bus_port=17000,
        role="replica" if head else "primary",
        primary=head,
    )


MEMBERS = [member(f"node-{i}") for i in (1, 2, 3, 7, 4, 5, 6, 8)]


def ident(name: str) -> str:
    return name.replace("-", "").ljust(40, "0")


def view(name: str, slots: tuple[SlotRange, ...] = (), follows: str | None = None) -> NodeFacts:
    """What ``name`` says of itself: a primary serving ``slots``, or a replica."""
    me = ClusterNode(
        node_id=ident(name),
        ip="10.0.1.1",
        port=7000,
        bus_port=17000,
        hostname="",
        flags=frozenset({"myself", "slave" if follows else "master"}),
        primary_id=ident(follows) if follows else None,
        config_epoch=1,
        link_state="connected",
        slots=slots,
    )
    role = Role("replica" if follows else "primary")
    info = {"master_link_status": "up"} if follows else {}
    return NodeFacts(name, info, role, ident(name), (me,), OK)


def joined(**changed: NodeFacts) -> dict[str, NodeFacts]:
    """The 3 x 1 cluster with node-7 and node-8 just met: empty primaries."""
    views = {name: view(name, slots) for name, slots in THREE.items()}
    views |= {r: view(r, follows=p) for r, p in HEADS.items() if r != "node-8"}
    views |= {"node-7": view("node-7"), "node-8": view("node-8")}
    return views | {k.replace("_", "-"): v for k, v in changed.items()}


def test_the_new_shard_s_replica_follows_its_empty_primary() -> None:
    actions, _ = plan_replicas(MEMBERS, joined())
    assert [(a.node, a.args) for a in actions] == [
        ("node-8", ("CLUSTER", "REPLICATE", ident("node-7")))
    ]


def test_only_an_empty_primary_follows_an_empty_head() -> None:
    """A node that just joined follows the new shard's primary; a replica that follows
    anything keeps its data until its shard serves slots, and nobody follows a head
    that is no primary."""
    elsewhere = joined(node_8=view("node-8", follows="node-1"))
    assert plan_replicas(MEMBERS, elsewhere)[0] == []
    headless = joined(node_7=view("node-7", follows="node-1"))
    assert plan_replicas(MEMBERS, headless)[0] == []


def test_the_fewest_slots_move_to_the_new_shard() -> None:
    views = joined()
    assert serving_primaries(MEMBERS, views) == ["node-1", "node-2", "node-3", "node-7"]
    moves = rebalance_moves(MEMBERS, views)
    assert moves == [
        SlotMove("node-1", "node-7", ((4096, 5460),)),
        SlotMove("node-2", "node-7", ((9557, 10922),)),
        SlotMove("node-3", "node-7", ((15019, 16383),)),
    ]
    assert sum(m.count for m in moves) == 4096


def test_an_even_cluster_moves_nothing_and_a_failover_s_primary_keeps_its_shard() -> None:
    even = joined(
        node_1=view("node-1", ((0, 4095),)),
        node_2=view("node-2", ((5461, 9556),)),
        node_3=view("node-3", ((10923, 15018),)),
        node_7=view("node-7", ((4096, 5460), (9557, 10922), (15019, 16383))),
    )
    assert rebalance_moves(MEMBERS, even) == []
    failed_over = joined(
        node_1=view("node-1", follows="node-4"), node_4=view("node-4", THREE["node-1"])
    )
    assert serving_primaries(MEMBERS, failed_over)[0] == "node-4"
    sources = {m.source for m in rebalance_moves(MEMBERS, failed_over)}
    assert sources == {"node-2", "node-3", "node-4"}


def test_slots_no_primary_serves_are_not_planned_from() -> None:
    gap = joined(node_3=view("node-3", ((10923, 16000),)))
    with pytest.raises(SlotPlanError, match="383 slots are served by no primary"):
        rebalance_moves(MEMBERS, gap)


def probes(views: dict[str, NodeFacts]) -> list[Probe]:
    return [
        Probe(HealthTarget(m.name, m.endpoint, m.role, primary=m.primary), facts=views[m.name])
        for m in MEMBERS
    ]


def test_status_names_the_primaries_without_an_even_share() -> None:
    found = probes(joined())
    _, problems = judge_cluster(found, {p.target.name: node_line(p) for p in found})
    shares = sorted((p.node, p.message) for p in problems if "even share" in p.message)
    assert shares == [
        ("node-1", "serves 5461 slots (0-5460); an even share is 4096 of 4 shards"),
        ("node-2", "serves 5462 slots (5461-10922); an even share is 4096 of 4 shards"),
        ("node-3", "serves 5461 slots (10923-16383); an even share is 4096 of 4 shards"),
        ("node-7", "serves no slots; an even share is 4096 of 4 shards"),
    ]
