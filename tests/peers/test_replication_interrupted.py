"""A Sentinel handover killed part-way (deploy SIGKILLed) leaves replicas at
replica-priority 0; the next run puts the planned priority back: on real local servers."""

from __future__ import annotations

import pytest

from swarmredis.engine.modes.replication.bootstrap import bootstrap_replication
from swarmredis.engine.modes.replication.handover import hand_over
from swarmredis.engine.modes.replication.plan import ReplicationSet
from swarmredis.engine.redis.replies import parse_pairs
from swarmredis.gateway.redis import RedisAccess

from .product import MASTER_NAME
from .servers import Lab
from .test_replication import start

pytestmark = pytest.mark.anyio


async def _verify(rs: ReplicationSet, access: RedisAccess) -> list[str]:
    report = await bootstrap_replication(
        rs.data[0], rs.data[1:], rs.sentinels, access, master_name=MASTER_NAME, wait_timeout=30
    )
    return [str(a) for a in report.actions]


async def _priorities(
    rs: ReplicationSet, access: RedisAccess, value: str | None = None
) -> list[str]:
    out = []
    for member in rs.data:
        async with access.connect(member.name, member.endpoint) as node:
            if value is not None and member.name == "node-3":
                await node.execute("CONFIG", "SET", "replica-priority", value)
            reply = await node.execute("CONFIG", "GET", "replica-priority")
            out.append(parse_pairs(reply)["replica-priority"])
    return out


async def test_priorities_a_killed_handover_left_are_set_back(
    lab: Lab, access: RedisAccess
) -> None:
    primary, replicas, sentinels = start(lab)
    rs = ReplicationSet([primary, *replicas], sentinels, MASTER_NAME)
    assert await _verify(rs, access) == []
    # a handover to node-2 killed after "the other replicas get replica-priority 0"
    assert await _priorities(rs, access, value="0") == ["100", "100", "0"]
    assert await _verify(rs, access) == [
        "node-3: CONFIG SET replica-priority 100 (was 0, as an interrupted handover leaves it)"
    ]
    assert await _priorities(rs, access) == ["100", "100", "100"]
    assert await _verify(rs, access) == []  # nothing left to repair


async def test_a_handover_ends_with_the_planned_priority_not_the_one_it_found(
    lab: Lab, access: RedisAccess
) -> None:
    primary, replicas, sentinels = start(lab)
    rs = ReplicationSet([primary, *replicas], sentinels, MASTER_NAME, priority="100")
    await _verify(rs, access)
    await _priorities(rs, access, value="0")  # left by a killed run
    assert await hand_over(rs, access, "node-2", step_timeout=30) == "node-1"
    assert await _priorities(rs, access) == ["100", "100", "100"]
