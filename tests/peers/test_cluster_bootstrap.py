"""Cluster bootstrap against six real TLS redis-server processes."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from testkit import free_port

from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster, read_cluster_state
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.plan import Condition
from swarmredis.engine.redis.replies import parse_cluster_info, parse_cluster_nodes, parse_info
from swarmredis.errors import DeployTimeout
from swarmredis.gateway.redis import RedisAccess

from .servers import Lab, cluster_members

pytestmark = pytest.mark.anyio


async def cluster_facts(members: list[ClusterMember], access: RedisAccess) -> dict[str, dict]:
    """What each node says about itself, read independently of the engine."""
    facts = {}
    for member in members:
        async with access.connect(member.name, member.endpoint) as node:
            myid = await node.cluster_myid()
            nodes = parse_cluster_nodes(await node.cluster_nodes())
            me = next(n for n in nodes if n.myself)
            facts[member.name] = {
                "id": myid,
                "nodes": nodes,
                "me": me,
                "info": parse_cluster_info(await node.cluster_info()),
                "replication": parse_info(await node.info("replication")),
            }
    return facts


async def test_fresh_cluster_is_created_as_planned_and_rerun_does_nothing(
    lab: Lab, access: RedisAccess
) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    assert (await read_cluster_state(members, access)).condition is Condition.FRESH

    started = time.monotonic()
    report = await bootstrap_cluster(members, access, wait_timeout=30)
    assert time.monotonic() - started < 30
    commands = [a.command.split()[1] for a in report.actions]
    assert commands.count("MEET") == 5
    assert commands.count("ADDSLOTSRANGE") == 3
    assert commands.count("REPLICATE") == 3

    facts = await cluster_facts(members, access)
    for name in ("node-1", "node-2", "node-3"):
        planned = next(m for m in members if m.name == name).slots
        assert facts[name]["me"].is_primary
        assert facts[name]["me"].slots == planned
    for replica, primary in (("node-4", "node-1"), ("node-5", "node-2"), ("node-6", "node-3")):
        assert facts[replica]["me"].is_replica
        assert facts[replica]["me"].primary_id == facts[primary]["id"]
        assert facts[replica]["replication"]["master_link_status"] == "up"
    for fact in facts.values():
        assert fact["info"].state == "ok"
        assert fact["info"].slots_ok == 16384
        assert fact["info"].known_nodes == 6
    epochs = {facts[n]["me"].config_epoch for n in ("node-1", "node-2", "node-3")}
    assert len(epochs) == 3

    state = await read_cluster_state(members, access)
    assert state.condition is Condition.HEALTHY, state.problems
    again = await bootstrap_cluster(members, access, wait_timeout=30)
    assert again.nothing_to_do
    assert again.lines() == ["nothing to do"]


def with_node_1_gone(members: list[ClusterMember], port: int) -> list[ClusterMember]:
    """``members`` as converge saw them when node-1's first task, since replaced, ran:
    MEET it at ``port``, where nothing listens any more."""
    return [
        replace(m, meet_port=port, bus_port=port + 10000) if m.name == "node-1" else m
        for m in members
    ]


async def test_a_member_met_where_it_no_longer_is_never_settles(
    lab: Lab, access: RedisAccess
) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    with pytest.raises(DeployTimeout, match="node-2 does not see node-1 yet"):
        await bootstrap_cluster(with_node_1_gone(members, free_port()), access, wait_timeout=3)


async def test_members_read_again_once_every_node_answers(lab: Lab, access: RedisAccess) -> None:
    """A task replaced after converge took it has a new address; the members read again
    after every node answered MEET it where it is now, and the cluster forms."""
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    gone = free_port()

    async def current() -> list[ClusterMember]:
        return members

    report = await bootstrap_cluster(
        with_node_1_gone(members, gone), access, wait_timeout=30, current_members=current
    )
    meets = [a.args[2:] for a in report.actions if a.args[:2] == ("CLUSTER", "MEET")]
    assert meets and all(str(gone) not in args for args in meets), meets
    assert (await read_cluster_state(members, access)).condition is Condition.HEALTHY
