"""The one reader of a node's facts, and the health probe built on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import anyio

from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.replies import (
    ClusterNode,
    parse_cluster_info,
    parse_cluster_nodes,
    parse_info,
    parse_pair_list,
    parse_pairs,
    parse_role,
    parse_sentinel_master,
)
from swarmredis.engine.redis.verdict import HealthTarget, Probe
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import RedisAccess, RedisNode

T = TypeVar("T")


async def read_facts(
    node: RedisNode,
    name: str,
    *,
    cluster: bool = False,
    master_name: str | None = None,
    settings: Sequence[str] = (),
) -> NodeFacts:
    """INFO and ROLE of any node; in cluster mode CLUSTER MYID/NODES/INFO too; on a data
    node ``CONFIG GET settings`` when asked; on a Sentinel, ``SENTINEL MASTER
    master_name``, ``SENTINEL REPLICAS master_name`` and whether ``SENTINEL CKQUORUM``
    agrees.

    A data node's commands go out in one pipeline (one round trip): at hundreds of nodes
    the fan-out's cost is the client's CPU per node, and each reply read on its own costs
    an event-loop turn more. The first refused command raises, as it would alone."""
    commands: list[tuple[str, ...]] = [("INFO",), ("ROLE",)]
    if settings:
        commands.append(("CONFIG", "GET", *settings))
    if cluster:
        commands += [("CLUSTER", "MYID"), ("CLUSTER", "NODES"), ("CLUSTER", "INFO")]
    replies = dict(zip(commands, await node.pipeline(*commands), strict=True))

    def reply(parse: Callable[[Any], T], *command: str) -> T:
        return node.decode(" ".join(command), parse, replies[command])

    info = reply(parse_info, "INFO")
    role = reply(parse_role, "ROLE")
    if role.kind == "sentinel":  # what else was sent is refused by a Sentinel: ignored
        if master_name is None:
            return NodeFacts(name, info, role)
        sentinel = await node.read(parse_sentinel_master, "SENTINEL", "MASTER", master_name)
        replicas = await node.read(parse_pair_list, "SENTINEL", "REPLICAS", master_name)
        quorum_error = None
        try:
            await node.execute("SENTINEL", "CKQUORUM", master_name)
        except RedisError as error:
            quorum_error = error.message
        return NodeFacts(
            name,
            info,
            role,
            sentinel=sentinel,
            quorum_error=quorum_error,
            sentinel_replicas=tuple(replicas),
        )
    config = reply(parse_pairs, "CONFIG", "GET", *settings) if settings else {}
    if not cluster:
        return NodeFacts(name, info, role, settings=config)
    return NodeFacts(
        name,
        info,
        role,
        node_id=reply(_node_id, "CLUSTER", "MYID"),
        cluster_nodes=reply(_own_cluster_nodes, "CLUSTER", "NODES"),
        cluster_info=reply(parse_cluster_info, "CLUSTER", "INFO"),
        settings=config,
    )


def _node_id(reply: str) -> str:
    if not isinstance(reply, str) or not reply.strip():
        raise ValueError("no node id")
    return reply


def _own_cluster_nodes(reply: str) -> tuple[ClusterNode, ...]:
    """CLUSTER NODES, which must hold exactly one ``myself`` line (the rules rely on it)."""
    nodes = parse_cluster_nodes(reply)
    if sum(n.myself for n in nodes) != 1:
        raise ValueError("not exactly one 'myself' line")
    return nodes


async def probe(
    target: HealthTarget,
    access: RedisAccess,
    *,
    cluster: bool,
    master_name: str,
    node_timeout: float,
    settings: Sequence[str] = (),
) -> Probe:
    """Probe one node; never raises for the node's own failures, records them instead."""
    try:
        with anyio.fail_after(node_timeout):
            async with access.connect(
                target.name, target.endpoint, server_name=target.server_name
            ) as node:
                facts = await read_facts(
                    node, target.name, cluster=cluster, master_name=master_name, settings=settings
                )
    except TimeoutError:
        return Probe(target, "tcp", f"no answer within {node_timeout:g}s")
    except RedisError as error:
        return Probe(target, error.stage, error.message)
    return Probe(target, facts=facts)
