"""The pure cluster planner: views of members in, classification and actions out."""

from __future__ import annotations

import dataclasses

import pytest

from swarmredis.engine.modes.cluster.members import ClusterMember, validate_members
from swarmredis.engine.modes.cluster.plan import (
    Condition,
    classify,
    final_pending,
    gossip_pending,
    plan_forget,
    plan_meets,
    plan_replicas,
    plan_slots,
)
from swarmredis.engine.modes.cluster.roles import handover_pairs, restore_candidates
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.replies import ClusterNode, Role, SlotRange, parse_cluster_info
from swarmredis.gateway.endpoint import RedisEndpoint

SLOTS = [(0, 5460), (5461, 10922), (10923, 16383)]
OK_INFO = parse_cluster_info("cluster_state:ok\r\ncluster_slots_ok:16384\r\n")


def member(i: int) -> ClusterMember:
    primary = i <= 3
    return ClusterMember(
        name=f"node-{i}",
        endpoint=RedisEndpoint("192.168.77.11", 7000 + i),
        meet_ip=f"10.0.1.{i}",
        meet_port=7000,
        bus_port=17000,
        role="primary" if primary else "replica",
        primary=None if primary else f"node-{i - 3}",
        slots=(SLOTS[i - 1],) if primary else (),
    )


MEMBERS = [member(i) for i in range(1, 7)]


def node_id(name: str) -> str:
    return name.replace("-", "").ljust(40, "0")


def entry(
    m: ClusterMember,
    *,
    myself: bool = False,
    flags: tuple[str, ...] = (),
    primary: str | None = None,
    slots: tuple[SlotRange, ...] | None = None,
    ip: str | None = None,
) -> ClusterNode:
    role = "slave" if primary else "master"
    return ClusterNode(
        node_id=node_id(m.name),
        ip=m.meet_ip if ip is None else ip,
        port=m.meet_port,
        bus_port=m.bus_port,
        hostname="",
        flags=frozenset({role, *flags, *(["myself"] if myself else [])}),
        primary_id=node_id(primary) if primary else None,
        config_epoch=1,
        link_state="connected",
        slots=m.slots if slots is None else slots,
    )


def healthy_table() -> dict[str, ClusterNode]:
    return {m.name: entry(m, primary=m.primary) for m in MEMBERS}


def views(tables: dict[str, dict[str, ClusterNode]], link: str = "up") -> dict[str, NodeFacts]:
    result = {}
    for m in MEMBERS:
        nodes = tuple(
            dataclasses.replace(n, flags=n.flags | {"myself"}) if name == m.name else n
            for name, n in tables[m.name].items()
        )
        info = {"master_link_status": link} if m.role == "replica" else {}
        role = Role("replica" if m.role == "replica" else "primary")
        result[m.name] = NodeFacts(m.name, info, role, node_id(m.name), nodes, OK_INFO)
    return result


def alone() -> dict[str, NodeFacts]:
    return views({m.name: {m.name: entry(m, slots=(), ip="")} for m in MEMBERS})


def test_fresh_cluster_is_met_from_the_first_node() -> None:
    fresh = alone()
    assert classify(MEMBERS, fresh).condition is Condition.FRESH
    meets = plan_meets(MEMBERS, fresh)
    assert {a.node for a in meets} == {"node-1"}
    assert [a.args[2:] for a in meets] == [(f"10.0.1.{i}", "7000", "17000") for i in range(2, 7)]
    actions, lost = plan_slots(MEMBERS, fresh)
    assert [(a.node, a.args[2:]) for a in actions] == [
        ("node-1", ("0", "5460")),
        ("node-2", ("5461", "10922")),
        ("node-3", ("10923", "16383")),
    ]
    assert lost == []


def test_healthy_cluster_needs_nothing() -> None:
    table = healthy_table()
    state = classify(MEMBERS, views({m.name: table for m in MEMBERS}))
    assert state.condition is Condition.HEALTHY, state.problems
    assert final_pending(MEMBERS, state.views) == []


def test_node_known_at_an_old_address_is_met_again_by_every_viewer() -> None:
    table = healthy_table()
    stale = {**table, "node-5": entry(MEMBERS[4], primary="node-2", ip="10.0.9.9")}
    tables = {m.name: (table if m.name == "node-5" else stale) for m in MEMBERS}
    current = views(tables)
    meets = plan_meets(MEMBERS, current)
    assert sorted(a.node for a in meets) == ["node-1", "node-2", "node-3", "node-4", "node-6"]
    assert all(a.args[2] == "10.0.1.5" and "moved from 10.0.9.9" in a.reason for a in meets)
    assert "node-1 does not see node-5 yet" in gossip_pending(MEMBERS, current)
    assert classify(MEMBERS, current).condition is Condition.NEEDS_REPAIR


def test_failing_entry_is_met_again() -> None:
    table = healthy_table()
    failing = {**table, "node-6": entry(MEMBERS[5], primary="node-3", flags=("fail",))}
    meets = plan_meets(MEMBERS, views({m.name: failing for m in MEMBERS}))
    assert {a.args[2] for a in meets} == {"10.0.1.6"}
    assert all("marked" in a.reason for a in meets)


def test_two_clusters_conflict() -> None:
    first = {n: e for n, e in healthy_table().items() if n in ("node-1", "node-2", "node-3")}
    second = {
        m.name: entry(m, slots=((0, 16383),) if m.name == "node-4" else ()) for m in MEMBERS[3:]
    }
    state = classify(
        MEMBERS, views({m.name: first if m.role == "primary" else second for m in MEMBERS})
    )
    assert state.condition is Condition.CONFLICTING
    assert "separate clusters" in state.problems[0]


def test_live_foreign_owner_of_slots_conflicts() -> None:
    table = healthy_table()
    foreign = dataclasses.replace(
        entry(MEMBERS[0]), node_id="f" * 40, ip="10.9.9.9", slots=((0, 5460),)
    )
    tables = {m.name: {**table, "foreign": foreign} for m in MEMBERS}
    state = classify(MEMBERS, views(tables))
    assert state.condition is Condition.CONFLICTING
    assert "10.9.9.9:7000" in state.problems[0]


def test_unowned_slots_go_to_their_primary_and_lost_ones_are_only_reported() -> None:
    table = healthy_table()
    table["node-2"] = entry(MEMBERS[1], slots=())
    ghost = dataclasses.replace(
        entry(MEMBERS[2]),
        node_id="9" * 40,
        flags=frozenset({"master", "fail"}),
        slots=((10923, 16383),),
    )
    table["node-3"] = entry(MEMBERS[2], slots=())
    tables = {m.name: {**table, "ghost": ghost} for m in MEMBERS}
    actions, lost = plan_slots(MEMBERS, views(tables))
    assert [(a.node, a.args) for a in actions] == [
        ("node-2", ("CLUSTER", "ADDSLOTSRANGE", "5461", "10922"))
    ]
    assert len(lost) == 1 and "10923-16383 belong to lost node 99999999" in lost[0]


def test_failover_is_a_note_and_a_blank_planned_primary_follows_the_new_one() -> None:
    table = healthy_table()
    table["node-4"] = entry(MEMBERS[3], slots=(SLOTS[0],))  # promoted, serves shard node-1
    table["node-1"] = entry(MEMBERS[0], slots=())  # came back empty
    actions, notes = plan_replicas(MEMBERS, views({m.name: table for m in MEMBERS}))
    assert [(a.node, a.args) for a in actions] == [
        ("node-1", ("CLUSTER", "REPLICATE", node_id("node-4")))
    ]
    assert notes == ["failover: node-4 serves shard node-1 (planned primary node-1)"]


def _after_failover(link: str = "up", node_1_follows: str = "node-4") -> dict[str, NodeFacts]:
    """node-4 serves shard node-1; node-1 follows ``node_1_follows`` (link ``link``)."""
    table = healthy_table()
    table["node-4"] = entry(MEMBERS[3], slots=(SLOTS[0],))
    table["node-1"] = entry(MEMBERS[0], slots=(), primary=node_1_follows)
    current = views({m.name: table for m in MEMBERS})
    current["node-1"] = dataclasses.replace(
        current["node-1"], info={"master_link_status": link}, role=Role("replica")
    )
    current["node-4"] = dataclasses.replace(current["node-4"], info={}, role=Role("primary"))
    return current


def test_a_failover_is_handed_back_only_to_a_linked_planned_primary() -> None:
    assert [m.name for m in restore_candidates(MEMBERS, _after_failover())] == ["node-1"]
    assert restore_candidates(MEMBERS, _after_failover(link="down")) == []
    assert restore_candidates(MEMBERS, _after_failover(), shards={"node-2"}) == []
    assert [m.name for m in restore_candidates(MEMBERS, _after_failover(), shards={"node-1"})] == [
        "node-1"
    ]
    table = healthy_table()
    assert restore_candidates(MEMBERS, views({m.name: table for m in MEMBERS})) == []


def test_a_planned_primary_following_another_shard_is_not_handed_back() -> None:
    # a CLUSTER FAILOVER there would take shard node-2's slots
    assert restore_candidates(MEMBERS, _after_failover(node_1_follows="node-2")) == []


def test_replica_without_primary_replicates_its_shard() -> None:
    table = healthy_table()
    table["node-6"] = entry(MEMBERS[5])  # a master without slots
    actions, _ = plan_replicas(MEMBERS, views({m.name: table for m in MEMBERS}))
    assert [(a.node, a.args[2]) for a in actions] == [("node-6", node_id("node-3"))]


def test_replica_link_down_keeps_the_cluster_pending() -> None:
    table = healthy_table()
    pending = final_pending(MEMBERS, views({m.name: table for m in MEMBERS}, link="down"))
    assert "node-4: replica link to its primary is not up" in pending


def test_invalid_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        validate_members([*MEMBERS, MEMBERS[0]])
    gap = dataclasses.replace(MEMBERS[2], slots=((10923, 16000),))
    with pytest.raises(ValueError, match="cover"):
        validate_members([*MEMBERS[:2], gap, *MEMBERS[3:]])
    orphan = dataclasses.replace(MEMBERS[3], primary="node-9")
    with pytest.raises(ValueError, match="node-9"):
        validate_members([*MEMBERS[:3], orphan])


def _ghost(flags: tuple[str, ...]) -> ClusterNode:
    old = dataclasses.replace(MEMBERS[3], name="node-4-old")
    return dataclasses.replace(
        entry(old, primary="node-1", flags=flags), node_id="ghost".ljust(40, "0")
    )


def test_forget_an_id_every_member_sees_failed_on_every_member() -> None:
    tables = {m.name: {**healthy_table(), "old": _ghost(("fail",))} for m in MEMBERS}
    actions = plan_forget(MEMBERS, views(tables))
    assert sorted(a.node for a in actions) == sorted(m.name for m in MEMBERS)
    assert {a.args for a in actions} == {("CLUSTER", "FORGET", "ghost".ljust(40, "0"))}


def test_never_forget_a_merely_suspected_or_partly_seen_node() -> None:
    suspected = {m.name: {**healthy_table(), "old": _ghost(("fail?",))} for m in MEMBERS}
    assert plan_forget(MEMBERS, views(suspected)) == []
    partly = {m.name: dict(healthy_table()) for m in MEMBERS}
    partly["node-1"]["old"] = _ghost(("fail",))
    assert plan_forget(MEMBERS, views(partly)) == []


def test_never_forget_a_current_member() -> None:
    tables = {m.name: healthy_table() for m in MEMBERS}
    for table in tables.values():
        table["node-2"] = dataclasses.replace(table["node-2"], flags=frozenset({"master", "fail"}))
    assert plan_forget(MEMBERS, views(tables)) == []


def test_handover_pairs_pick_a_linked_replica_not_restarted_in_the_same_batch() -> None:

    healthy = views({m.name: healthy_table() for m in MEMBERS})
    assert handover_pairs(["node-1"], healthy) == [("node-1", "node-4")]
    assert handover_pairs(["node-4"], healthy) == []  # a replica serves no slots
    assert handover_pairs(["node-1", "node-4"], healthy) == []  # its replica restarts too
    unlinked = views({m.name: healthy_table() for m in MEMBERS}, link="down")
    assert handover_pairs(["node-2"], unlinked) == []
