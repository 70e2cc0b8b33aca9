"""Removing Swarm objects: stop services and wait for their tasks, remove what is released.

Mode-agnostic effects for ``rm`` and the apply's removals; the order lives in
``engine.flows.remove``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from swarmredis.engine.events import Event, Reporter
from swarmredis.engine.polling import Backoff
from swarmredis.errors import DeployTimeout, DockerError, ObjectNotFound
from swarmredis.gateway.docker import DockerGateway, Kind
from swarmredis.plan.tasks import Task, tasks_of


async def stop_services(
    gateway: DockerGateway,
    services: Sequence[Mapping[str, Any]],
    report: Reporter,
    limiter: anyio.CapacityLimiter,
    deadline: float,
) -> None:
    """Scale every service to zero and wait (bounded) until its tasks have stopped and
    the task reaper has deleted them.

    Scaling down marks the tasks ``remove``; once they stopped, Swarm's task reaper
    deletes them. Removing a service inside that window crashed the manager's engine
    on the lab (Docker 20.10, swarmkit ``SetServiceTasksRemove``: it reads the
    service's tasks, then dereferences each one again, and a task the reaper deleted
    in between is nil): so rm waits until no task is left in ``remove``. A task on a
    host that is down never reports back: after ``deadline`` rm goes on.
    """

    async def one(service: Mapping[str, Any]) -> None:
        spec = dict(service["Spec"])
        if "Replicated" not in (spec.get("Mode") or {}):
            return
        spec["Mode"] = {"Replicated": {"Replicas": 0}}
        async with limiter:
            await gateway.update_service(str(service["ID"]), int(service["Version"]["Index"]), spec)
        report(Event("rm", str(spec.get("Name")), "start", "scaled to 0"))

    async with anyio.create_task_group() as tg:
        for service in services:
            tg.start_soon(one, service)
    ids = [str(s["ID"]) for s in services]
    names = {str(s["ID"]): str(s["Spec"].get("Name")) for s in services}
    backoff = Backoff(cap=0.5)
    left: list[Task] = []
    with anyio.move_on_after(deadline):
        while ids:
            tasks = tasks_of(await gateway.tasks(ids))
            left = [t for t in tasks if t.alive or t.desired_state == "remove"]
            if not left:
                return
            await anyio.sleep(backoff.delay())
    for task in left:  # e.g. on a host that is down: say so, and go on
        detail = f"task {task.id[:12]} still {task.state} (desired {task.desired_state})"
        report(
            Event(
                "rm",
                names.get(task.service_id, task.service_id),
                "info",
                f"{detail} on node {task.node_id[:12] or '?'} after {deadline:g}s; going on",
            )
        )


async def remove_all(
    gateway: DockerGateway,
    kind: Kind,
    objects: Sequence[Mapping[str, Any]],
    report: Reporter,
    limiter: anyio.CapacityLimiter,
) -> list[str]:
    """Remove these objects concurrently (each once released); returns their names."""
    removed: list[str] = []

    async def one(obj: Mapping[str, Any]) -> None:
        name = str((obj.get("Spec") or {}).get("Name") or obj.get("Name") or obj["ID"])
        async with limiter:
            await remove_when_released(gateway, kind, str(obj.get("ID") or obj.get("Id")))
        removed.append(name)
        report(Event("rm", name, "done", f"{kind} removed"))

    async with anyio.create_task_group() as tg:
        for obj in objects:
            tg.start_soon(one, obj)
    return removed


async def remove_when_released(
    gateway: DockerGateway, kind: Kind, ident: str, *, attempts: int = 40
) -> None:
    """Remove an object, retrying every 0.5 s while the engine still calls it in use.

    A network, secret or config stays "in use" for a moment after its tasks are gone.
    """
    for attempt in range(attempts):
        try:
            await gateway.remove(kind, ident)
            return
        except DockerError:
            if attempt == attempts - 1:
                raise
            await anyio.sleep(0.5)


async def wait_gone(gateway: DockerGateway, kind: Kind, ident: str, deadline: float) -> None:
    """Wait until the manager no longer lists the object (bounded)."""
    backoff = Backoff(cap=0.5)
    with anyio.move_on_after(deadline):
        while True:
            try:
                await gateway.inspect(kind, ident)
            except ObjectNotFound:
                return
            await anyio.sleep(backoff.delay())
    raise DeployTimeout(
        f"{kind} {ident} still listed {deadline:.0f}s after its removal", stage="rm"
    )
