"""An existing cluster is never re-created: bootstrap only adds what is missing."""

from __future__ import annotations

import pytest
from testkit import eventually

from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster, read_cluster_state
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.plan import Condition
from swarmredis.engine.redis.replies import ClusterNode, parse_cluster_nodes
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import RedisAccess

from .servers import Lab, cluster_members

pytestmark = pytest.mark.anyio


async def view_of(member: ClusterMember, access: RedisAccess) -> tuple[ClusterNode, ...]:
    async with access.connect(member.name, member.endpoint) as node:
        return parse_cluster_nodes(await node.cluster_nodes())


async def ids_of(members: list[ClusterMember], access: RedisAccess) -> dict[str, str]:
    ids = {}
    for member in members:
        async with access.connect(member.name, member.endpoint) as node:
            ids[member.name] = await node.cluster_myid()
    return ids


async def fresh_cluster(lab: Lab, access: RedisAccess) -> list[ClusterMember]:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    await bootstrap_cluster(members, access, wait_timeout=30)
    return members


def by_name(members: list[ClusterMember], name: str) -> ClusterMember:
    return next(m for m in members if m.name == name)


async def test_restarted_replica_rejoins_without_being_recreated(
    lab: Lab, access: RedisAccess
) -> None:
    members = await fresh_cluster(lab, access)
    before = await ids_of(members, access)
    lab.restart("node-5")
    report = await bootstrap_cluster(members, access, wait_timeout=30)
    assert not [a for a in report.actions if "REPLICATE" in a.command or "ADDSLOTS" in a.command]
    assert await ids_of(members, access) == before


async def test_node_back_on_a_new_address_is_met_again(lab: Lab, access: RedisAccess) -> None:
    members = await fresh_cluster(lab, access)
    before = await ids_of(members, access)
    moved = lab.restart("node-5", new_port=True)
    members = cluster_members(list(lab.processes.values()))
    report = await bootstrap_cluster(members, access, wait_timeout=30)

    assert await ids_of(members, access) == before  # same identities, nothing re-created
    assert not [a for a in report.actions if "REPLICATE" in a.command or "ADDSLOTS" in a.command]
    for member in members:
        entry = next(n for n in await view_of(member, access) if n.node_id == before["node-5"])
        assert entry.port == moved.port, member.name
    state = await read_cluster_state(members, access)
    assert state.condition is Condition.HEALTHY, state.problems


async def test_wiped_replica_is_met_and_replicates_its_primary(
    lab: Lab, access: RedisAccess
) -> None:
    members = await fresh_cluster(lab, access)
    before = await ids_of(members, access)
    lab.restart("node-6", wipe=True)
    state = await read_cluster_state(members, access)
    assert state.condition is Condition.NEEDS_REPAIR

    report = await bootstrap_cluster(members, access, wait_timeout=30)
    after = await ids_of(members, access)
    assert after["node-6"] != before["node-6"]
    assert {k: v for k, v in after.items() if k != "node-6"} == {
        k: v for k, v in before.items() if k != "node-6"
    }
    done = [(a.node, a.args[:2]) for a in report.actions]
    assert ("node-6", ("CLUSTER", "REPLICATE")) in done
    assert any(args == ("CLUSTER", "MEET") for _, args in done)
    me = next(n for n in await view_of(by_name(members, "node-6"), access) if n.myself)
    assert me.primary_id == before["node-3"]


async def test_forgotten_node_is_met_again(lab: Lab, access: RedisAccess) -> None:
    members = await fresh_cluster(lab, access)
    ids = await ids_of(members, access)
    for member in members:
        if member.name != "node-5":
            async with access.connect(member.name, member.endpoint) as node:
                await node.execute("CLUSTER", "FORGET", ids["node-5"])
    report = await bootstrap_cluster(members, access, wait_timeout=30)
    assert any(
        a.args[:2] == ("CLUSTER", "MEET") and a.args[3] == str(by_name(members, "node-5").meet_port)
        for a in report.actions
    )
    state = await read_cluster_state(members, access)
    assert state.condition is Condition.HEALTHY, state.problems


async def test_failover_is_reported_and_a_wiped_primary_rejoins_as_replica(
    lab: Lab, access: RedisAccess
) -> None:
    members = await fresh_cluster(lab, access)
    ids = await ids_of(members, access)
    lab.processes["node-1"].stop()

    async def node4_promoted() -> bool:
        me = next(n for n in await view_of(by_name(members, "node-4"), access) if n.myself)
        return me.is_primary and bool(me.slots)

    await eventually(node4_promoted)
    lab.restart("node-1", wipe=True)
    report = await bootstrap_cluster(members, access, wait_timeout=30)

    assert ("node-1", ("CLUSTER", "REPLICATE", ids["node-4"])) in [
        (a.node, a.args) for a in report.actions
    ]
    assert any("failover: node-4 serves shard node-1" in n for n in report.notes)
    me = next(n for n in await view_of(by_name(members, "node-4"), access) if n.myself)
    assert me.is_primary  # not "fixed" back


async def test_two_different_clusters_are_refused_untouched(lab: Lab, access: RedisAccess) -> None:
    processes = lab.cluster(shards=6, replicas=0)
    first = cluster_members(processes[:3], shards=3, replicas=0)
    second = cluster_members(processes[3:], shards=3, replicas=0)
    await bootstrap_cluster(first, access, wait_timeout=30)
    await bootstrap_cluster(second, access, wait_timeout=30)
    both = cluster_members(processes, shards=3, replicas=1)

    state = await read_cluster_state(both, access)
    assert state.condition is Condition.CONFLICTING
    with pytest.raises(RedisError, match="separate clusters"):
        await bootstrap_cluster(both, access, wait_timeout=10)
    for member in both:
        assert len(await view_of(member, access)) == 3
