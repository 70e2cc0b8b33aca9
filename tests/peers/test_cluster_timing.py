"""A fresh cluster forms with a low node timeout and no sync delay, and every node ends with
its configured timing: against six real TLS redis-server processes."""

from __future__ import annotations

import pytest

from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.timing import SETTINGS, Timing
from swarmredis.engine.modes.registry import mode_for
from swarmredis.engine.redis.health import check_health
from swarmredis.engine.redis.replies import parse_pairs
from swarmredis.engine.redis.verdict import HealthTarget, ProblemKind, Status
from swarmredis.gateway.redis import RedisAccess

from .product import NODE_TIMEOUT_MS
from .servers import Lab, cluster_members

pytestmark = pytest.mark.anyio

# Not the servers' own values (node timeout 2000 ms, sync delay 0 from the stack's config),
# so that putting the configured ones back shows.
CONFIGURED = Timing(str(NODE_TIMEOUT_MS + 1000), "no", "3")


async def settings_of(members: list[ClusterMember], access: RedisAccess) -> dict[str, dict]:
    out = {}
    for member in members:
        async with access.connect(member.name, member.endpoint) as node:
            out[member.name] = parse_pairs(await node.execute("CONFIG", "GET", *SETTINGS))
    return out


async def test_a_fresh_cluster_forms_fast_and_ends_as_configured(
    lab: Lab, access: RedisAccess
) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    report = await bootstrap_cluster(members, access, wait_timeout=30, configured=CONFIGURED)
    commands = [a.command for a in report.actions]
    forming = [i for i, c in enumerate(commands) if c == "CONFIG SET cluster-node-timeout 500"]
    back = [
        i
        for i, c in enumerate(commands)
        if c == f"CONFIG SET cluster-node-timeout {CONFIGURED.node_timeout_ms}"
    ]
    slots = [i for i, c in enumerate(commands) if c.startswith("CLUSTER ADDSLOTSRANGE")]
    replicate = [i for i, c in enumerate(commands) if c.startswith("CLUSTER REPLICATE")]
    no_failover = [i for i, c in enumerate(commands) if "replica-no-failover yes" in c]
    failover_back = [i for i, c in enumerate(commands) if "replica-no-failover no" in c]
    assert len(forming) == len(back) == len(no_failover) == len(failover_back) == 6
    # the window opens before the slots, and while the node timeout is low every replica
    # has failovers off: they come back only once every node has its node timeout back
    assert max(forming + no_failover) < min(slots) and max(replicate) < min(back)
    assert max(back) < min(failover_back)
    assert await settings_of(members, access) == {m.name: CONFIGURED.settings() for m in members}

    again = await bootstrap_cluster(members, access, wait_timeout=30, configured=CONFIGURED)
    assert again.nothing_to_do


async def test_a_node_left_with_the_forming_timing_is_set_back(
    lab: Lab, access: RedisAccess
) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    await bootstrap_cluster(members, access, wait_timeout=30, configured=CONFIGURED)
    node_2 = next(m for m in members if m.name == "node-2")
    async with access.connect(node_2.name, node_2.endpoint) as node:  # as a killed run leaves it
        await node.execute("CONFIG", "SET", "cluster-node-timeout", "500")
    targets = [HealthTarget(m.name, m.endpoint, m.role, primary=m.primary) for m in members]
    health = await check_health(mode_for("cluster"), targets, access)
    assert health.status is Status.DEGRADED
    assert [(p.kind, p.node) for p in health.problems] == [(ProblemKind.SETTINGS, "node-2")]
    assert "cluster-node-timeout is 500 ms" in health.problems[0].message

    again = await bootstrap_cluster(members, access, wait_timeout=30, configured=CONFIGURED)
    assert [str(a) for a in again.actions] == [
        f"node-2: CONFIG SET cluster-node-timeout {CONFIGURED.node_timeout_ms} (as configured)"
    ]
    assert (await settings_of(members, access))["node-2"] == CONFIGURED.settings()
    assert (await check_health(mode_for("cluster"), targets, access)).status is Status.HEALTHY


async def test_without_a_configured_timing_the_settings_are_left_alone(
    lab: Lab, access: RedisAccess
) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    report = await bootstrap_cluster(members, access, wait_timeout=30)
    assert not [a for a in report.actions if a.args[0] == "CONFIG"]
    expected = {
        "cluster-node-timeout": str(NODE_TIMEOUT_MS),
        "cluster-replica-no-failover": "no",
        "repl-diskless-sync-delay": "0",
    }
    assert all(s == expected for s in (await settings_of(members, access)).values())
