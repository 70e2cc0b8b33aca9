"""Health of a deployment: probe every node concurrently, each under its own timeout,
then judge the answers with the pure rules of ``engine.healthreport``.

Host and task state come from Docker: the caller puts them on each ``HealthTarget``.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from swarmredis.engine.healthreport import (
    ClusterHealth,
    HealthReport,
    HealthTarget,
    Mode,
    NodeHealth,
    Probe,
    Problem,
    Status,
    assess,
)
from swarmredis.engine.redisinfo import (
    parse_cluster_info,
    parse_cluster_nodes,
    parse_info,
    parse_pairs,
    parse_role,
)
from swarmredis.engine.redisnodes import DEFAULT_CONCURRENCY, fan_out
from swarmredis.errors import RedisAuthError, RedisError, RedisTLSError, RedisUnreachable
from swarmredis.gateway.redis import RedisAccess

__all__ = [
    "ClusterHealth",
    "HealthReport",
    "HealthTarget",
    "Mode",
    "NodeHealth",
    "Problem",
    "Status",
    "check_health",
    "probe",
]


async def _read_node(probe: Probe, access: RedisAccess, mode: Mode, master_name: str) -> None:
    target = probe.target
    async with access.connect(target.name, target.endpoint, server_name=target.server_name) as node:
        probe.info = parse_info(await node.info())
        probe.role = parse_role(await node.role()).kind
        if probe.role == "sentinel":
            probe.sentinel = parse_pairs(await node.execute("SENTINEL", "MASTER", master_name))
            try:
                await node.execute("SENTINEL", "CKQUORUM", master_name)
            except RedisError as error:
                probe.quorum_error = error.message
        elif mode == "cluster":
            probe.node_id = await node.cluster_myid()
            probe.cluster_nodes = parse_cluster_nodes(await node.cluster_nodes())
            probe.cluster_info = parse_cluster_info(await node.cluster_info())


async def probe(
    target: HealthTarget, access: RedisAccess, mode: Mode, master_name: str, node_timeout: float
) -> Probe:
    """Probe one node; never raises for the node's own failures, records them instead."""
    result = Probe(target)
    try:
        with anyio.fail_after(node_timeout):
            await _read_node(result, access, mode, master_name)
    except TimeoutError:
        result.stage, result.error = "tcp", f"no answer within {node_timeout:g}s"
    except RedisTLSError as error:
        result.stage, result.error = "tls", error.message
    except RedisUnreachable as error:
        result.stage, result.error = "tcp", error.message
    except RedisAuthError as error:
        result.stage, result.error = "auth", error.message
    except RedisError as error:
        result.stage, result.error = "command", error.message
    return result


async def check_health(
    mode: Mode,
    targets: Sequence[HealthTarget],
    access: RedisAccess,
    *,
    stack: str | None = None,
    master_name: str | None = None,
    sentinel_access: RedisAccess | None = None,
    node_timeout: float = 5.0,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> HealthReport:
    """Probe every target concurrently (each within ``node_timeout``) and judge the result.

    ``master_name`` is the Sentinel master name (replication mode; default: ``stack``).
    """
    limiter = anyio.CapacityLimiter(concurrency)
    name = master_name or stack or "mymaster"

    async def one(target: HealthTarget) -> Probe:
        how = sentinel_access if target.role == "sentinel" and sentinel_access else access
        return await probe(target, how, mode, name, node_timeout)

    probes = await fan_out(targets, one, limiter=limiter)
    report = assess(mode, probes)
    report.stack = stack
    return report
