"""A coordinated failover that Redis gives up (no majority of votes within its 5 s) is
asked for again, against six real redis-server processes: the other primaries are
stopped (SIGSTOP) through the first attempt and go on afterwards."""

from __future__ import annotations

import os
import signal

import anyio
import pytest

from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster
from swarmredis.engine.modes.cluster.failover import MF_ATTEMPT_S, failover_to
from swarmredis.engine.redis.replies import parse_role
from swarmredis.gateway.redis import RedisAccess

from .servers import Lab, cluster_members

pytestmark = pytest.mark.anyio


async def test_a_failover_redis_gave_up_is_asked_for_again(lab: Lab, access: RedisAccess) -> None:
    processes = lab.cluster(shards=3, replicas=1)
    members = cluster_members(processes)
    await bootstrap_cluster(members, access, wait_timeout=30)
    replica = next(m for m in members if m.primary == "node-1")
    voters = [p for p in processes if p.name in ("node-2", "node-3")]
    pids = [p.proc.pid for p in voters if p.proc is not None]
    attempts = 0

    async def fail_over() -> None:
        nonlocal attempts
        attempts = await failover_to(replica, access)

    for pid in pids:
        os.kill(pid, signal.SIGSTOP)  # no vote can come: the first attempt times out
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(fail_over)
            await anyio.sleep(MF_ATTEMPT_S + 1.5)
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    assert attempts >= 2
    async with access.connect(replica.name, replica.endpoint) as node:
        assert (await node.read(parse_role, "ROLE")).kind == "primary"
