"""``logs``: the Redis and Sentinel logs of a stack's tasks on every host (the service logs
API: every task of a service, whichever host ran it), each line with its node and host,
merged in time order; ``follow`` then goes on with new lines as they come."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio

from swarmredis import labels
from swarmredis.engine.flows.status import require_stack
from swarmredis.engine.swarm.observe import swarm_nodes
from swarmredis.errors import ObjectNotFound
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.logs import LogLine, merged, parse_line

Service = Mapping[str, Any]


def _node_name(service: Service) -> str:
    return str(((service.get("Spec") or {}).get("Labels") or {}).get(labels.NODE, ""))


def chosen_services(stack: str, services: Sequence[Service], node: str | None) -> list[Service]:
    """Every service of the stack, or the one of ``node`` (ObjectNotFound naming the
    stack's nodes otherwise)."""
    if node is None:
        return list(services)
    found = [s for s in services if _node_name(s) == node]
    if not found:
        names = ", ".join(sorted((_node_name(s) for s in services), key=_order))
        raise ObjectNotFound(
            f"stack {stack} has no node {node!r}",
            hint=f"its nodes and Sentinels: {names}",
        )
    return found


def _order(name: str) -> tuple[str, int]:
    kind, _, number = name.rpartition("-")
    return (kind, int(number) if number.isdigit() else 0)


async def _read(
    gateway: DockerGateway,
    service: Service,
    hosts: Mapping[str, str],
    *,
    since: float | None,
    tail: int | None,
) -> list[LogLine]:
    name = _node_name(service)
    lines = []
    stream = gateway.service_logs(str(service["ID"]), since=since, tail=tail, follow=False)
    async for raw in stream:
        if (line := parse_line(raw, name, hosts)) is not None:
            lines.append(line)
    return lines


async def _sources(
    gateway: DockerGateway, stack: str, node: str | None
) -> tuple[list[Service], dict[str, str]]:
    """The services to read (every one, or ``node``'s) and the hostnames by node id."""
    services = chosen_services(stack, await require_stack(gateway, stack), node)
    hosts = {n.id: n.hostname for n in (await swarm_nodes(gateway)).values()}
    return services, hosts


async def _history(
    gateway: DockerGateway,
    services: Sequence[Service],
    hosts: Mapping[str, str],
    *,
    since: float | None,
    tail: int | None,
) -> list[LogLine]:
    found: list[list[LogLine]] = [[] for _ in services]

    async def one(index: int) -> None:
        found[index] = await _read(gateway, services[index], hosts, since=since, tail=tail)

    async with anyio.create_task_group() as group:
        for index in range(len(services)):
            group.start_soon(one, index)
    return merged(found)


async def stack_logs(
    gateway: DockerGateway,
    stack: str,
    node: str | None = None,
    *,
    since: float | None = None,
    tail: int | None = None,
) -> list[LogLine]:
    """The lines of every node and Sentinel (or of ``node``), merged in time order;
    ``tail``: the last lines of each node, ``since``: Unix seconds."""
    services, hosts = await _sources(gateway, stack, node)
    return await _history(gateway, services, hosts, since=since, tail=tail)


async def follow_logs(
    gateway: DockerGateway,
    stack: str,
    emit: Callable[[LogLine], None],
    node: str | None = None,
    *,
    since: float | None = None,
    tail: int | None = None,
) -> None:
    """``stack_logs`` emitted in time order, then every new line as it comes, until
    cancelled. The stream starts where the history began, so no line is lost between the
    two; lines of both are emitted once."""
    services, hosts = await _sources(gateway, stack, node)
    started = time.time()
    history = await _history(gateway, services, hosts, since=since, tail=tail)
    for line in history:
        emit(line)
    seen = {line for line in history if line.nanos >= int(started * 1e9)}

    async def one(service: Service) -> None:
        name = _node_name(service)
        stream = gateway.service_logs(str(service["ID"]), since=started, tail=None, follow=True)
        async for raw in stream:
            line = parse_line(raw, name, hosts)
            if line is not None and line not in seen:
                emit(line)

    async with anyio.create_task_group() as group:
        for service in services:
            group.start_soon(one, service)
