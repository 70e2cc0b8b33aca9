"""A cluster bootstrap killed part-way (deploy SIGKILLed) completes on the next run, and
the cluster is formed once: against six real TLS redis-server processes."""

from __future__ import annotations

import pytest

from swarmredis.engine.events import Event
from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster, read_cluster_state
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.plan import Condition
from swarmredis.engine.modes.cluster.timing import FORMING, Timing
from swarmredis.gateway.redis import RedisAccess

from .product import NODE_TIMEOUT_MS
from .servers import Lab, cluster_members

pytestmark = pytest.mark.anyio

CONFIGURED = Timing(str(NODE_TIMEOUT_MS + 1000), "no", "3")


async def _run(members: list[ClusterMember], access: RedisAccess, *commands: str) -> None:
    """What a killed run had sent to the first primaries before it died."""
    for member, command in zip(members, commands, strict=False):
        async with access.connect(member.name, member.endpoint) as node:
            await node.execute(*command.split())


async def test_killed_after_setting_config_epochs_the_next_run_forms_the_cluster(
    lab: Lab, access: RedisAccess
) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    # killed between SET-CONFIG-EPOCH (node-1, node-2 done) and the first MEET: every node
    # is still alone, so the next run sees a fresh cluster; Redis refuses a second
    # SET-CONFIG-EPOCH ("Node config epoch is already non-zero")
    await _run(members, access, "CLUSTER SET-CONFIG-EPOCH 1", "CLUSTER SET-CONFIG-EPOCH 2")
    events: list[Event] = []
    report = await bootstrap_cluster(
        members, access, wait_timeout=30, configured=CONFIGURED, progress=events.append
    )
    # each phase is reported as it completes: what `deploy --json` streams
    assert [(e.step, e.subject, e.detail) for e in events] == [
        ("bootstrap", "meet", "6 nodes know each other (fresh)"),
        ("bootstrap", "slots", "every planned slot assigned, every replica set"),
        ("bootstrap", "whole", "cluster_state ok on every node, all agree"),
    ]
    epochs = [a.command for a in report.actions if "SET-CONFIG-EPOCH" in a.command]
    assert epochs == ["CLUSTER SET-CONFIG-EPOCH 3"]  # node-3's; node-1 and node-2 kept theirs
    assert report.fresh is True
    state = await read_cluster_state(members, access)
    assert state.condition is Condition.HEALTHY, state.problems
    primaries = [state.views[m.name].me for m in members if m.role == "primary"]
    assert sorted(p.config_epoch for p in primaries) == [1, 2, 3]


async def test_killed_in_the_forming_window_the_next_run_closes_it_in_order(
    lab: Lab, access: RedisAccess
) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    await bootstrap_cluster(members, access, wait_timeout=30, configured=CONFIGURED)
    # a run killed after MEET, before the window closed, leaves the forming timing on
    forming = [f"CONFIG SET {k} {v}" for k, v in FORMING.settings().items()]
    for member in members:
        await _run([member] * 3, access, *forming)
    report = await bootstrap_cluster(members, access, wait_timeout=30, configured=CONFIGURED)
    assert report.fresh is False
    timeouts = [a.command for a in report.actions if "cluster-node-timeout" in a.command]
    failover = [a.command for a in report.actions if "cluster-replica-no-failover" in a.command]
    assert timeouts == [f"CONFIG SET cluster-node-timeout {CONFIGURED.node_timeout_ms}"] * 6
    assert failover == ["CONFIG SET cluster-replica-no-failover no"] * 6
    # the node timeout went back on every node before failovers were allowed again
    commands = [a.command for a in report.actions]
    assert max(commands.index(t) for t in timeouts) < min(
        i for i, c in enumerate(commands) if c in failover
    )
