"""The one reader of a node's facts, and the health probe built on it."""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.replies import (
    parse_cluster_info,
    parse_cluster_nodes,
    parse_info,
    parse_pairs,
    parse_role,
)
from swarmredis.engine.redis.verdict import HealthTarget, Probe
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import RedisAccess, RedisNode, Reply


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
    master_name`` and whether ``SENTINEL CKQUORUM`` agrees.

    A data node's commands go out in one pipeline (one round trip): at hundreds of nodes
    the fan-out's cost is the client's CPU per node, and each reply read on its own costs
    an event-loop turn more. The first refused command raises, as it would alone."""
    commands: list[tuple[str, ...]] = [("INFO",), ("ROLE",)]
    if settings:
        commands.append(("CONFIG", "GET", *settings))
    if cluster:
        commands += [("CLUSTER", "MYID"), ("CLUSTER", "NODES"), ("CLUSTER", "INFO")]
    replies = dict(zip(commands, await node.pipeline(*commands), strict=True))

    def reply(*command: str) -> Reply:
        answer = replies[command]
        if isinstance(answer, RedisError):
            raise answer
        return answer

    def text(*command: str) -> str:
        answer = reply(*command)
        if not isinstance(answer, str):
            raise RedisError(
                f"{node.name} at {node.endpoint}: {' '.join(command)}: "
                f"expected text, got {type(answer).__name__}"
            )
        return answer

    info = parse_info(text("INFO"))
    roles = reply("ROLE")
    if not isinstance(roles, list):
        raise RedisError(f"{node.name} at {node.endpoint}: ROLE: unexpected reply {roles!r}")
    role = parse_role(roles)
    if role.kind == "sentinel":  # what else was sent is refused by a Sentinel: ignored
        if master_name is None:
            return NodeFacts(name, info, role)
        sentinel = parse_pairs(await node.execute("SENTINEL", "MASTER", master_name))
        quorum_error = None
        try:
            await node.execute("SENTINEL", "CKQUORUM", master_name)
        except RedisError as error:
            quorum_error = error.message
        return NodeFacts(name, info, role, sentinel=sentinel, quorum_error=quorum_error)
    config = parse_pairs(reply("CONFIG", "GET", *settings)) if settings else {}
    if not cluster:
        return NodeFacts(name, info, role, settings=config)
    return NodeFacts(
        name,
        info,
        role,
        node_id=text("CLUSTER", "MYID"),
        cluster_nodes=parse_cluster_nodes(text("CLUSTER", "NODES")),
        cluster_info=parse_cluster_info(text("CLUSTER", "INFO")),
        settings=config,
    )


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
