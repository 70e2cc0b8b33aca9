"""``status``: a running stack's health, from the Swarm's labels and the nodes themselves.

Needs only the stack name: the services' labels say each node's planned role and
shard, their published ports and the Swarm nodes' addresses say how to reach them,
and the tasks say where they run. Then every node is probed concurrently
(``engine.health``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from swarmredis import labels
from swarmredis.engine.health import HealthReport, HealthTarget, Mode, check_health
from swarmredis.errors import ObjectNotFound
from swarmredis.gateway.docker import DockerGateway
from swarmredis.gateway.redis import RedisAccess, RedisEndpoint
from swarmredis.plan.observe import SwarmNode, pinned_node_id, swarm_node
from swarmredis.plan.placement import slot_ranges

Role = Literal["primary", "replica", "sentinel"]


def stack_mode(services: Sequence[Mapping[str, Any]]) -> Mode:
    """The deployment mode, from the planned roles and shards on the services."""
    roles = {_label(s, labels.PLANNED_ROLE) for s in services}
    if "standalone" in roles:
        return "standalone"
    if any(_label(s, labels.SHARD) for s in services):
        return "cluster"
    return "replication"


def _label(service: Mapping[str, Any], key: str) -> str | None:
    return ((service.get("Spec") or {}).get("Labels") or {}).get(key)


def _published_port(service: Mapping[str, Any]) -> int | None:
    """The host-mode port published for the lowest target port (the TLS port, not the bus)."""
    ports = ((service.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports") or []
    host_ports = [p for p in ports if p.get("PublishMode") == "host" and p.get("PublishedPort")]
    if not host_ports:
        return None
    return int(min(host_ports, key=lambda p: int(p["TargetPort"]))["PublishedPort"])


def _current_task(tasks: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    meant = [t for t in tasks if t.get("DesiredState") == "running"]
    pool = meant or list(tasks)
    return max(pool, key=lambda t: str(t.get("UpdatedAt", "")), default=None)


def health_targets(
    stack: str,
    services: Sequence[Mapping[str, Any]],
    tasks: Sequence[Mapping[str, Any]],
    nodes: Mapping[str, SwarmNode],
) -> list[HealthTarget]:
    """One target per Redis node and Sentinel of the stack (pure)."""
    by_service: dict[str, list[Mapping[str, Any]]] = {}
    for task in tasks:
        by_service.setdefault(str(task.get("ServiceID")), []).append(task)
    primaries = sorted(
        (s for s in services if _label(s, labels.PLANNED_ROLE) == "primary"),
        key=lambda s: int(_label(s, labels.SHARD) or 0),
    )
    shard_primary = {_label(s, labels.SHARD): _label(s, labels.NODE) for s in primaries}
    mode = stack_mode(services)
    slots = (
        dict(zip(shard_primary, slot_ranges(len(primaries)), strict=True))
        if (mode == "cluster" and primaries)
        else {}
    )
    targets = []
    for service in sorted(services, key=lambda s: _node_sort_key(_label(s, labels.NODE) or "")):
        targets.append(
            _target(
                stack,
                service,
                by_service.get(str(service["ID"]), []),
                nodes,
                shard_primary,
                slots,
                primaries,
            )
        )
    return targets


def _node_sort_key(name: str) -> tuple[str, int]:
    kind, _, number = name.rpartition("-")
    return (kind, int(number) if number.isdigit() else 0)


def _target(
    stack: str,
    service: Mapping[str, Any],
    tasks: Sequence[Mapping[str, Any]],
    nodes: Mapping[str, SwarmNode],
    shard_primary: Mapping[str | None, str | None],
    slots: Mapping[str | None, tuple[int, int]],
    primaries: Sequence[Mapping[str, Any]],
) -> HealthTarget:
    name = _label(service, labels.NODE) or str(service["Spec"]["Name"])
    planned = _label(service, labels.PLANNED_ROLE) or "primary"
    shard = _label(service, labels.SHARD)
    task = _current_task(tasks)
    pinned = nodes.get(pinned_node_id(service.get("Spec") or {}) or "")
    where = (nodes.get(str(task.get("NodeID"))) if task else None) or pinned
    port = _published_port(service)
    role: Role = (
        "sentinel" if planned == "sentinel" else "replica" if planned == "replica" else "primary"
    )
    primary = (
        shard_primary.get(shard)
        if shard
        else (_label(primaries[0], labels.NODE) if role == "replica" and primaries else None)
    )
    return HealthTarget(
        name=name,
        endpoint=RedisEndpoint(where.addr if where else "", port or 0),
        role=role,
        primary=primary if role == "replica" else None,
        slots=(slots[shard],) if role == "primary" and shard in slots else (),
        host=where.hostname if where else None,
        task_state=str((task.get("Status") or {}).get("State")) if task else "no task",
        server_name=labels.dns_alias(stack, name),
    )


async def require_stack(gateway: DockerGateway, stack: str) -> list[dict[str, Any]]:
    """The stack's Redis and Sentinel services; ``ObjectNotFound`` if it has none."""
    await gateway.require_manager()
    services = [s for s in await gateway.list("service", stack) if _label(s, labels.NODE)]
    if not services:
        raise ObjectNotFound(
            f"no swarmredis stack named {stack!r} on this Swarm",
            hint="deploy it with `swarmredis deploy STACKFILE`; `docker stack ls` lists stacks",
        )
    return services


async def stack_status(
    gateway: DockerGateway,
    stack: str,
    access: RedisAccess,
    *,
    node_timeout: float = 5.0,
    concurrency: int = 16,
) -> HealthReport:
    """Probe every node of the running stack ``stack`` and judge it."""
    services = await require_stack(gateway, stack)
    nodes = {n.id: n for n in (swarm_node(raw) for raw in await gateway.nodes())}
    tasks = await gateway.tasks([str(s["ID"]) for s in services])
    targets = health_targets(stack, services, tasks, nodes)
    return await check_health(
        stack_mode(services),
        targets,
        access,
        stack=stack,
        node_timeout=node_timeout,
        concurrency=concurrency,
    )
