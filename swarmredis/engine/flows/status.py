"""``status``: a running stack's health, from the Swarm's labels and the nodes themselves.

Needs only the stack name: the services' labels say each node's planned role and
shard (and so the stack's mode, ``registry.mode_of``), their published ports (on the
host network: their ``host-port`` label) and the Swarm nodes' addresses say how to
reach them, and the tasks say where they run. Then every node is probed concurrently
and judged by the mode's rules (``engine.redis.health``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import anyio

from swarmredis import labels
from swarmredis.constants import DEFAULT_CONCURRENCY, NODE_TIMEOUT_S
from swarmredis.engine.context import RunContext, admin_access
from swarmredis.engine.flows.plan import check_certs
from swarmredis.engine.modes.base import Mode
from swarmredis.engine.modes.registry import mode_of
from swarmredis.engine.redis.health import check_health
from swarmredis.engine.redis.verdict import HealthReport, HealthTarget
from swarmredis.engine.swarm.observe import swarm_nodes
from swarmredis.errors import ObjectNotFound
from swarmredis.gateway.docker import DockerGateway
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.pki.store import CertStore
from swarmredis.plan.observe import SwarmNode, pinned_node_id
from swarmredis.plan.tasks import Task, by_service, current, tasks_of

Role = Literal["primary", "replica", "sentinel"]


def _label(service: Mapping[str, Any], key: str) -> str | None:
    return ((service.get("Spec") or {}).get("Labels") or {}).get(key)


def stack_mode(services: Sequence[Mapping[str, Any]]) -> Mode:
    """The running stack's mode, from the planned roles and shards on its services."""
    roles = {_label(s, labels.PLANNED_ROLE) or "" for s in services}
    return mode_of(roles, sharded=any(_label(s, labels.SHARD) for s in services))


def _published_port(service: Mapping[str, Any]) -> int | None:
    """The host-mode port published for the lowest target port (the TLS port, not the bus);
    on the host network, where nothing is published, the port the node listens on."""
    ports = ((service.get("Spec") or {}).get("EndpointSpec") or {}).get("Ports") or []
    host_ports = [p for p in ports if p.get("PublishMode") == "host" and p.get("PublishedPort")]
    if not host_ports:
        listening = _label(service, labels.HOST_PORT)
        return int(listening) if listening and listening.isdigit() else None
    return int(min(host_ports, key=lambda p: int(p["TargetPort"]))["PublishedPort"])


def health_targets(
    stack: str,
    services: Sequence[Mapping[str, Any]],
    tasks: Sequence[Task],
    nodes: Mapping[str, SwarmNode],
) -> list[HealthTarget]:
    """One target per Redis node and Sentinel of the stack (pure)."""
    grouped = by_service(tasks)
    primaries = sorted(
        (s for s in services if _label(s, labels.PLANNED_ROLE) == "primary"),
        key=lambda s: int(_label(s, labels.SHARD) or 0),
    )
    shard_primary = {_label(s, labels.SHARD): _label(s, labels.NODE) or "" for s in primaries}
    sharded = {shard: name for shard, name in shard_primary.items() if shard}
    first_primary = _label(primaries[0], labels.NODE) if primaries else None
    return [
        _target(
            stack,
            service,
            grouped.get(str(service["ID"]), []),
            nodes,
            sharded,
            first_primary,
        )
        for service in sorted(services, key=lambda s: _node_sort_key(_label(s, labels.NODE) or ""))
    ]


def _node_sort_key(name: str) -> tuple[str, int]:
    kind, _, number = name.rpartition("-")
    return (kind, int(number) if number.isdigit() else 0)


def _target(
    stack: str,
    service: Mapping[str, Any],
    tasks: Sequence[Task],
    nodes: Mapping[str, SwarmNode],
    shard_primary: Mapping[str, str],
    first_primary: str | None,
) -> HealthTarget:
    name = _label(service, labels.NODE) or str(service["Spec"]["Name"])
    planned = _label(service, labels.PLANNED_ROLE) or "primary"
    shard = _label(service, labels.SHARD)
    task = current(tasks)
    pinned = nodes.get(pinned_node_id(service.get("Spec") or {}) or "")
    where = (nodes.get(task.node_id) if task else None) or pinned
    port = _published_port(service)
    role: Role = (
        "sentinel" if planned == "sentinel" else "replica" if planned == "replica" else "primary"
    )
    primary = shard_primary.get(shard) if shard else first_primary if role == "replica" else None
    return HealthTarget(
        name=name,
        endpoint=RedisEndpoint(where.addr if where else "", port or 0),
        role=role,
        primary=primary if role == "replica" else None,
        host=where.hostname if where else None,
        task_state=task.state if task else "no task",
        server_name=labels.dns_alias(stack, name),
        task_words=_task_words(task, tasks),
    )


def _task_words(task: Task | None, tasks: Sequence[Task]) -> str:
    """Docker's words for a task that does not run, and whether Swarm is replacing a task
    that still runs (after its host was down for the manager: the node will restart)."""
    if task is None or task.state == "running":
        return ""
    words = task.words
    if any(t.state in ("running", "starting") and t.id != task.id for t in tasks):
        words += ("; " if words else "") + "Swarm is replacing the running task: it restarts"
    return words


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


async def stack_status(gateway: DockerGateway, stack: str, run: RunContext) -> HealthReport:
    """Probe every node of the running stack ``stack`` and judge it."""
    return await _judge(gateway, stack, await require_stack(gateway, stack), run)


async def stack_targets(gateway: DockerGateway, stack: str) -> list[HealthTarget]:
    """Every Redis node and Sentinel of the running stack, as the engine dials it."""
    return await _targets(gateway, stack, await require_stack(gateway, stack))


async def stack_view(gateway: DockerGateway, stack: str) -> tuple[Mode, list[HealthTarget]]:
    """The running stack's mode, and every node and Sentinel as the engine dials it."""
    services = await require_stack(gateway, stack)
    return stack_mode(services), await _targets(gateway, stack, services)


async def _targets(
    gateway: DockerGateway, stack: str, services: Sequence[Mapping[str, Any]]
) -> list[HealthTarget]:
    nodes = await swarm_nodes(gateway)
    tasks = tasks_of(await gateway.tasks([str(s["ID"]) for s in services]))
    return health_targets(stack, services, tasks, nodes)


async def _judge(
    gateway: DockerGateway, stack: str, services: Sequence[Mapping[str, Any]], run: RunContext
) -> HealthReport:
    return await check_health(
        stack_mode(services),
        await _targets(gateway, stack, services),
        run.access,
        stack=stack,
        node_timeout=run.access.timeout,
        limiter=run.limiter,
    )


async def status(
    gateway: DockerGateway,
    stack: str,
    store: CertStore,
    *,
    node_timeout: float = NODE_TIMEOUT_S,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> HealthReport:
    """``swarmredis status``: one health check of the running stack ``stack``."""
    await check_certs(store)  # only present files: no store at all is not an error here
    # ask the Swarm first: an unknown stack is "no such stack", not "no certificates"
    services = await require_stack(gateway, stack)
    access = await anyio.to_thread.run_sync(lambda: admin_access(store, node_timeout))
    return await _judge(
        gateway, stack, services, RunContext.create(access, concurrency=concurrency)
    )
