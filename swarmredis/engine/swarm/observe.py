"""Reading the Swarm once per command: its nodes and a stack's objects, concurrently."""

from __future__ import annotations

from typing import Any

import anyio

from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.observe import KINDS, ObservedObject, SwarmNode, observed_object, swarm_node


async def observe(
    gateway: DockerGateway, stack: str
) -> tuple[list[SwarmNode], tuple[ObservedObject, ...]]:
    """Swarm nodes and the stack's networks, secrets, configs and services, read concurrently."""
    raw: dict[str, list[dict[str, Any]]] = {}

    async def fetch(kind: str) -> None:
        if kind == "node":
            raw[kind] = await gateway.nodes()
        else:
            raw[kind] = await gateway.list(kind, stack)  # type: ignore[arg-type]

    async with anyio.create_task_group() as tg:
        for kind in ("node", *KINDS):
            tg.start_soon(fetch, kind)
    nodes = [swarm_node(n) for n in raw["node"]]
    objects = tuple(observed_object(k, o) for k in KINDS for o in raw[k])
    return nodes, objects


async def swarm_nodes(gateway: DockerGateway) -> dict[str, SwarmNode]:
    """The Swarm's nodes by id."""
    return {n.id: n for n in (swarm_node(raw) for raw in await gateway.nodes())}
