"""Waiting for the Swarm to converge: each service's task running on its planned host.

Polls the tasks (``plan.tasks`` records) with backoff under one deadline. A task that
is rejected or fails after the apply started (image missing on that host, no resources,
port clash, a Redis that exits at start) ends the wait at once with the task's own error, its host
and the last lines it logged: never a bare timeout. Only a known transient engine
error is left to Swarm's restart a few times first (``failure_of``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import anyio

from swarmredis.engine.polling import Backoff
from swarmredis.errors import ConvergenceError, DeployTimeout, SwarmRedisError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.tasks import Placed, Task, by_service, summary, tasks_of


@dataclass(frozen=True)
class Target:
    """A service we wait for: its logical node, id, planned Swarm node and hostname."""

    logical: str
    service_id: str
    service_name: str
    node_id: str
    hostname: str


# Engine hiccups that the next attempt fixes, seen on Docker 20.10: the engine races on a
# new container's secret mounts ("unable to remount dir as readonly: ... device or
# resource busy"). Swarm restarts the task; only a service that fails like this
# TRANSIENT_LIMIT times ends the wait.
_TRANSIENT = ("device or resource busy",)
TRANSIENT_LIMIT = 3


def _transient(task: Task) -> bool:
    return any(pattern in task.error for pattern in _TRANSIENT)


def failure_of(tasks: Sequence[Task], known: frozenset[str]) -> Task | None:
    """The first task that failed or was rejected and is new since the apply began
    (a transient engine error only once it happened ``TRANSIENT_LIMIT`` times)."""
    failed = [t for t in tasks if t.id not in known and t.failed]
    retried = sum(1 for t in failed if _transient(t))
    return next((t for t in failed if not _transient(t) or retried >= TRANSIENT_LIMIT), None)


# Swarm reports a task "starting" from its container's start until the first passing health
# check (swarmkit dockerapi controller.Start), "running" after it.
_STARTED = frozenset({"starting", "running"})


def running_task(
    tasks: Sequence[Task], target: Target, service: Mapping[str, Any], *, started: bool = False
) -> Task | None:
    """The task that proves ``target`` converged, if there is one yet.

    Exactly one task is meant to run, it runs on the planned node (with ``started``: its
    container started, the health check may still be pending), and it was made from the
    service's current task template (Swarm's own notion of a task that is not dirty,
    swarmkit ``IsTaskDirty``: a change of placement alone does not replace a task that
    still fits).
    """
    meant = [t for t in tasks if t.desired_state == "running"]
    if len(meant) != 1:
        return None
    task = meant[0]
    states = _STARTED if started else {"running"}
    if task.state not in states or task.node_id != target.node_id:
        return None
    template = (service.get("Spec") or {}).get("TaskTemplate") or {}
    return task if task.made_from(template) else None


async def current_placement(
    gateway: DockerGateway, placed: Mapping[str, Placed], network_id: str | None
) -> dict[str, Placed]:
    """``placed`` read again: each service's current task (desired running, started, on the
    same node) with its overlay address; a service without one keeps what it had.

    Converge takes a task once its container is starting. Docker 20.10 may still fail it
    there ("starting container failed: unable to remount dir as readonly ... secrets:
    device or resource busy", seen on the lab) and Swarm starts a replacement, which gets
    a new overlay address: a cluster MEET at the old one never settles.
    """
    grouped = by_service(tasks_of(await gateway.tasks([p.service_id for p in placed.values()])))
    current = dict(placed)
    for logical, old in placed.items():
        meant = [t for t in grouped.get(old.service_id, []) if t.desired_state == "running"]
        if len(meant) == 1 and meant[0].state in _STARTED and meant[0].node_id == old.node_id:
            task = meant[0]
            current[logical] = replace(old, task_id=task.id, overlay_ip=task.overlay_ip(network_id))
    return current


async def known_task_ids(gateway: DockerGateway, service_ids: Sequence[str]) -> frozenset[str]:
    """Ids of the tasks that exist now: failures among them are history, not news."""
    return frozenset(t.id for t in tasks_of(await gateway.tasks(list(service_ids))))


async def wait_converged(
    gateway: DockerGateway,
    targets: Sequence[Target],
    *,
    network_id: str | None,
    known: frozenset[str],
    deadline: float,
    on_running: Callable[[Target], None] | None = None,
    started: bool = False,
) -> dict[str, Placed]:
    """Wait until every target has one running task on its planned node (``started``: one
    whose container started; the caller then waits for the nodes themselves).

    Raises ``ConvergenceError`` at the first new failed/rejected task, and
    ``DeployTimeout`` naming the services still pending when ``deadline`` (seconds) passes.
    """
    placed: dict[str, Placed] = {}
    pending = {t.service_id: t for t in targets}
    last: dict[str, str] = {}  # service id -> what its newest task says
    backoff = Backoff()
    with anyio.move_on_after(deadline) as scope:
        while pending:
            polled = anyio.current_time()
            grouped = by_service(tasks_of(await gateway.tasks(list(pending))))
            for service_id, target in list(pending.items()):
                own = grouped.get(service_id, [])
                last[service_id] = summary(own)
                bad = failure_of(own, known)
                if bad is not None:
                    raise await _failure(gateway, target, bad)
                service = await gateway.inspect("service", service_id)
                running = running_task(own, target, service, started=started)
                if running is not None:
                    placed[target.logical] = Placed(
                        target.logical,
                        service_id,
                        running.id,
                        target.node_id,
                        running.overlay_ip(network_id),
                    )
                    del pending[service_id]
                    if on_running is not None:
                        on_running(target)
            if pending:
                await anyio.sleep(backoff.delay(took=anyio.current_time() - polled))
    if scope.cancelled_caught:
        names = "; ".join(
            f"{t.service_name} ({last.get(sid) or 'no task yet'})"
            for sid, t in sorted(pending.items(), key=lambda item: item[1].service_name)
        )
        raise DeployTimeout(
            f"services not running after {deadline:.0f}s: {names}",
            hint="see `docker service ps <service>`; re-running deploy resumes",
            stage="converge",
            pending=[t.service_name for t in pending.values()],
        )
    return placed


async def _failure(gateway: DockerGateway, target: Target, task: Task) -> SwarmRedisError:
    error = task.words or task.state
    logs = await task_log_tail(gateway, task.id)
    tail = f"; last log lines: {' | '.join(logs)}" if logs else ""
    return ConvergenceError(
        f"{target.service_name} on {target.hostname}: task {task.state}: {error}{tail}",
        hint="fix the cause and re-run deploy; it resumes where it stopped",
        service=target.service_name,
        host=target.hostname,
        task_error=error,
        logs=logs,
    )


async def task_log_tail(gateway: DockerGateway, task_id: str, lines: int = 5) -> list[str]:
    """The last lines a task logged (best effort: empty if the host cannot be asked)."""
    with anyio.move_on_after(5):
        try:
            return await gateway.task_logs(task_id, lines)
        except SwarmRedisError:
            return []
    return []
