"""Replication mode: one primary, two replicas over TLS, three Sentinels with ACLs."""

from __future__ import annotations

import pytest
from testkit import eventually

from swarmredis.engine.modes.base import Member
from swarmredis.engine.modes.registry import mode_for
from swarmredis.engine.modes.replication.bootstrap import bootstrap_replication
from swarmredis.engine.redis.health import check_health
from swarmredis.engine.redis.replies import parse_role
from swarmredis.engine.redis.verdict import HealthTarget, Status
from swarmredis.errors import RedisUnreachable
from swarmredis.gateway.redis import RedisAccess

from .product import MASTER_NAME
from .servers import Lab, RedisProcess

pytestmark = pytest.mark.anyio


def start(lab: Lab) -> tuple[Member, list[Member], list[Member]]:
    """The replication stack's nodes and sentinels, started, as the engine's members."""
    primary, replicas, sentinels = lab.replication()

    def member(process: RedisProcess) -> Member:
        return Member(process.name, process.endpoint)

    return member(primary), [member(r) for r in replicas], [member(s) for s in sentinels]


def targets(primary: Member, replicas: list[Member], sentinels: list[Member]) -> list[HealthTarget]:
    return [
        HealthTarget(primary.name, primary.endpoint, "primary"),
        *(HealthTarget(r.name, r.endpoint, "replica", primary=primary.name) for r in replicas),
        *(HealthTarget(s.name, s.endpoint, "sentinel") for s in sentinels),
    ]


async def test_replication_is_verified_and_a_failover_is_reported(
    lab: Lab, access: RedisAccess
) -> None:
    primary, replicas, sentinels = start(lab)
    report = await bootstrap_replication(
        primary, replicas, sentinels, access, master_name=MASTER_NAME, wait_timeout=30
    )
    assert report.nothing_to_do
    assert not [n for n in report.notes if "failover" in n]

    health = await check_health(
        mode_for("replication"),
        targets(primary, replicas, sentinels),
        access,
        master_name=MASTER_NAME,
    )
    assert health.status is Status.HEALTHY, health.problems
    lines = {n.name: n for n in health.nodes}
    assert lines["node-2"].replicates == "node-1" and lines["node-2"].link_up
    assert lines["sentinel-1"].sentinel is not None
    assert lines["sentinel-1"].sentinel["other_sentinels"] == 2
    assert lines["sentinel-1"].sentinel["quorum_ok"]

    lab.processes["node-3"].stop()
    degraded = await check_health(
        mode_for("replication"),
        targets(primary, replicas, sentinels),
        access,
        master_name=MASTER_NAME,
        node_timeout=2,
    )
    assert degraded.status is Status.DEGRADED
    assert {p.node for p in degraded.problems} == {"node-3"}

    lab.processes["node-1"].stop()  # the Sentinels promote node-2 (node-3 is down)

    async def promoted() -> bool:
        try:
            async with access.connect("node-2", replicas[0].endpoint) as node:
                return parse_role(await node.role()).kind == "primary"
        except RedisUnreachable:  # Sentinel kills client connections when it promotes
            return False

    await eventually(promoted)
    lab.restart("node-1")  # comes back; Sentinel turns it into a replica of node-2
    lab.restart("node-3")
    after = await bootstrap_replication(
        primary, replicas, sentinels, access, master_name=MASTER_NAME, wait_timeout=30
    )
    assert any("failover: node-2 is primary (planned node-1)" in n for n in after.notes)
    health = await check_health(
        mode_for("replication"),
        targets(primary, replicas, sentinels),
        access,
        master_name=MASTER_NAME,
    )
    assert health.status is Status.DEGRADED
    assert [p.message for p in health.problems] == [
        "failover: primary now (planned replica); "
        "`swarmredis deploy STACKFILE` gives the planned roles back"
    ]
