"""Health of a deployment: probe every node concurrently, each under its own timeout, then
judge the answers with the shared rules and the mode's own (``engine.redis.verdict``).

Host and task state come from Docker: the caller puts them on each ``HealthTarget``.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from swarmredis.constants import NODE_TIMEOUT_S
from swarmredis.engine.redis.nodes import bounded, fan_out
from swarmredis.engine.redis.probe import probe
from swarmredis.engine.redis.verdict import HealthReport, HealthTarget, Judging, Probe, assess
from swarmredis.gateway.redis import RedisAccess


async def check_health(
    mode: Judging,
    targets: Sequence[HealthTarget],
    access: RedisAccess,
    *,
    stack: str | None = None,
    master_name: str | None = None,
    node_timeout: float = NODE_TIMEOUT_S,
    limiter: anyio.CapacityLimiter | None = None,
) -> HealthReport:
    """Probe every target concurrently (each within ``node_timeout``, at most ``limiter``
    at once) and judge the result with ``mode``'s rules.

    ``master_name`` is the Sentinel master name (replication mode; default: ``stack``).
    """
    probes = await probe_all(
        mode,
        targets,
        access,
        master_name=master_name or stack or "mymaster",
        node_timeout=node_timeout,
        limiter=limiter,
    )
    report = assess(mode, probes)
    report.stack = stack
    return report


async def probe_all(
    mode: Judging,
    targets: Sequence[HealthTarget],
    access: RedisAccess,
    *,
    master_name: str,
    node_timeout: float = NODE_TIMEOUT_S,
    limiter: anyio.CapacityLimiter | None = None,
    settings: bool = True,
) -> list[Probe]:
    """Every target's probe, concurrently; ``settings``: read the settings the mode's
    rules check (``CONFIG GET``, which a user without it, e.g. ``monitor``, leaves out)."""

    async def one(target: HealthTarget) -> Probe:
        return await probe(
            target,
            access,
            cluster=mode.reads_cluster,
            master_name=master_name,
            node_timeout=node_timeout,
            settings=mode.settings if settings else (),
        )

    return await fan_out(targets, one, limiter=bounded(limiter))
