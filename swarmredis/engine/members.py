"""Who the engine talks to: each planned node's endpoint and its bootstrap identity.

Built from the plan (where a node is placed, which port it publishes) and from the
converged tasks (overlay addresses, which Redis needs for CLUSTER MEET).
"""

from __future__ import annotations

from collections.abc import Mapping

from swarmredis.engine.bootstrap import (
    BootstrapReport,
    RedisMember,
    bootstrap_cluster,
    bootstrap_replication,
    bootstrap_standalone,
)
from swarmredis.engine.clusterplan import ClusterMember
from swarmredis.engine.converge import Placed
from swarmredis.engine.sentinelhandover import ReplicationSet
from swarmredis.errors import ConvergenceError, SpecError
from swarmredis.gateway.redis import RedisAccess, RedisEndpoint
from swarmredis.plan.state import DesiredState
from swarmredis.stackfile.topology import LogicalNode


def endpoint_of(desired: DesiredState, node: LogicalNode) -> RedisEndpoint:
    """Where the engine dials a node: its host's address and its published TLS port."""
    if node.published_port is None:
        raise SpecError(f"{node.name} publishes no port; the engine cannot reach it")
    return RedisEndpoint(desired.assignment.addresses[node.name], node.published_port)


def cluster_members(desired: DesiredState, placed: Mapping[str, Placed]) -> list[ClusterMember]:
    """The bootstrap's view of each cluster node: how to dial it and how peers MEET it."""
    stack = desired.stack
    members = []
    for node in desired.nodes:
        by_host = stack.announce == "host"
        meet_ip = (
            desired.assignment.addresses[node.name] if by_host else placed[node.name].overlay_ip
        )
        if meet_ip is None:
            raise ConvergenceError(
                f"{node.service}: its task has no address on {stack.network.name}"
            )
        members.append(
            ClusterMember(
                name=node.name,
                endpoint=endpoint_of(desired, node),
                meet_ip=meet_ip,
                meet_port=node.published_port if by_host and node.published_port else stack.port,
                bus_port=node.bus_published_port
                if by_host and node.bus_published_port
                else stack.port + 10000,
                role="primary" if node.role == "primary" else "replica",
                primary=node.primary,
                slots=(desired.slots[node.name],) if node.name in desired.slots else (),
                server_name=node.alias,
            )
        )
    return members


def redis_member(desired: DesiredState, node: LogicalNode) -> RedisMember:
    """A data node or Sentinel outside cluster mode, as the bootstrap dials it."""
    return RedisMember(node.name, endpoint_of(desired, node), server_name=node.alias)


async def bootstrap_stack(
    desired: DesiredState,
    placed: Mapping[str, Placed],
    access: RedisAccess,
    concurrency: int,
) -> BootstrapReport:
    """Run the mode's bootstrap against the converged services."""
    stack = desired.stack
    if stack.mode == "cluster":
        return await bootstrap_cluster(
            cluster_members(desired, placed), access, concurrency=concurrency
        )
    if stack.mode == "standalone":
        data = next(n for n in desired.nodes if n.kind == "redis")
        return await bootstrap_standalone(redis_member(desired, data), access)
    rs = replication_set(desired)
    return await bootstrap_replication(
        rs.data[0],
        rs.data[1:],
        rs.sentinels,
        access,
        master_name=rs.master_name,
        concurrency=concurrency,
    )


def replication_set(desired: DesiredState) -> ReplicationSet:
    """Data nodes (planned primary first, then replicas) and Sentinels of a replication stack."""
    data = [n for n in desired.nodes if n.kind == "redis"]
    ordered = [*(n for n in data if n.role == "primary"), *(n for n in data if n.role != "primary")]
    return ReplicationSet(
        data=[redis_member(desired, n) for n in ordered],
        sentinels=[redis_member(desired, n) for n in desired.nodes if n.kind == "sentinel"],
        master_name=desired.stack.name,
        failover_timeout=desired.stack.sentinel.failover_timeout,
    )
