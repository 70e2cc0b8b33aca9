"""Waiting for the Swarm to converge: each service's task running on its planned host.

Polls the tasks with backoff under one deadline. A task that is rejected or fails
after the apply started (image missing on that host, no resources, port clash, a
Redis that exits at start) ends the wait at once with the task's own error, its host
and the last lines it logged: never a bare timeout. Only a known transient engine
error is left to Swarm's restart a few times first (``failure_of``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from swarmredis.errors import ConvergenceError, DeployTimeout, SwarmRedisError
from swarmredis.gateway.docker import DockerGateway

_FAILED = frozenset({"failed", "rejected"})


@dataclass(frozen=True)
class Target:
    """A service we wait for: its logical node, id, planned Swarm node and hostname."""

    logical: str
    service_id: str
    service_name: str
    node_id: str
    hostname: str


@dataclass(frozen=True)
class Placed:
    """A converged service: the running task, where it runs, and its overlay address."""

    logical: str
    service_id: str
    task_id: str
    node_id: str
    overlay_ip: str | None


def overlay_ip(task: Mapping[str, Any], network_id: str | None) -> str | None:
    """The task's address on the stack network (``10.0.1.5/24`` -> ``10.0.1.5``)."""
    for attachment in task.get("NetworksAttachments") or []:
        network = attachment.get("Network") or {}
        if network_id is None or network.get("ID") == network_id:
            for address in attachment.get("Addresses") or []:
                return str(address).split("/", 1)[0]
    return None


# Engine hiccups that the next attempt fixes, seen on Docker 20.10: the engine races on a
# new container's secret mounts ("unable to remount dir as readonly: ... device or
# resource busy"). Swarm restarts the task; only a service that fails like this
# TRANSIENT_LIMIT times ends the wait.
_TRANSIENT = ("device or resource busy",)
TRANSIENT_LIMIT = 3


def _transient(task: Mapping[str, Any]) -> bool:
    error = str((task.get("Status") or {}).get("Err") or "")
    return any(pattern in error for pattern in _TRANSIENT)


def failure_of(
    tasks: Sequence[Mapping[str, Any]], known: frozenset[str]
) -> Mapping[str, Any] | None:
    """The first task that failed or was rejected and is new since the apply began
    (a transient engine error only once it happened ``TRANSIENT_LIMIT`` times)."""
    failed = [
        t
        for t in tasks
        if t.get("ID") not in known and (t.get("Status") or {}).get("State") in _FAILED
    ]
    retried = sum(1 for t in failed if _transient(t))
    return next((t for t in failed if not _transient(t) or retried >= TRANSIENT_LIMIT), None)


def running_task(
    tasks: Sequence[Mapping[str, Any]], target: Target, service: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The task that proves ``target`` converged, if there is one yet.

    Exactly one task is meant to run, it runs on the planned node, and it was made
    from the service's current task template. That last test is Swarm's own notion
    of a dirty task (swarmkit ``IsTaskDirty``): it compares the task's spec with the
    template, and a change of placement alone does not replace a task that still fits.
    """
    meant = [t for t in tasks if t.get("DesiredState") == "running"]
    if len(meant) != 1:
        return None
    task = meant[0]
    if (task.get("Status") or {}).get("State") != "running" or task.get("NodeID") != target.node_id:
        return None
    template = (service.get("Spec") or {}).get("TaskTemplate") or {}
    if _comparable(task.get("Spec") or {}) != _comparable(template):
        return None
    return task


# Placement: see above. Runtime: the API fills it in on the service ("container")
# but not on the task's copy.
_NOT_COMPARED = frozenset({"Placement", "Runtime"})


def _comparable(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in _NOT_COMPARED}


def task_summary(tasks: Sequence[Mapping[str, Any]]) -> str:
    """The newest task's state and the scheduler's words, e.g. ``pending: no suitable node``."""
    if not tasks:
        return ""
    newest = max(tasks, key=lambda t: str(t.get("UpdatedAt", "")))
    status = newest.get("Status") or {}
    words = status.get("Err") or status.get("Message") or ""
    return f"{status.get('State', '?')}: {words}" if words else str(status.get("State", "?"))


async def known_task_ids(gateway: DockerGateway, service_ids: Sequence[str]) -> frozenset[str]:
    """Ids of the tasks that exist now: failures among them are history, not news."""
    return frozenset(str(t["ID"]) for t in await gateway.tasks(list(service_ids)))


async def wait_converged(
    gateway: DockerGateway,
    targets: Sequence[Target],
    *,
    network_id: str | None,
    known: frozenset[str],
    deadline: float,
    on_running: Any = None,
) -> dict[str, Placed]:
    """Wait until every target has one running task on its planned node.

    Raises ``ConvergenceError`` at the first new failed/rejected task, and
    ``DeployTimeout`` naming the services still pending when ``deadline`` (seconds) passes.
    """
    placed: dict[str, Placed] = {}
    pending = {t.service_id: t for t in targets}
    last: dict[str, str] = {}  # service id -> what its newest task says
    delay = 0.2
    with anyio.move_on_after(deadline) as scope:
        while pending:
            tasks = await gateway.tasks(list(pending))
            by_service: dict[str, list[Mapping[str, Any]]] = {}
            for task in tasks:
                by_service.setdefault(str(task.get("ServiceID")), []).append(task)
            for service_id, target in list(pending.items()):
                own = by_service.get(service_id, [])
                last[service_id] = task_summary(own)
                bad = failure_of(own, known)
                if bad is not None:
                    raise await _failure(gateway, target, bad)
                service = await gateway.inspect("service", service_id)
                running = running_task(own, target, service)
                if running is not None:
                    placed[target.logical] = Placed(
                        target.logical,
                        service_id,
                        str(running["ID"]),
                        target.node_id,
                        overlay_ip(running, network_id),
                    )
                    del pending[service_id]
                    if on_running is not None:
                        on_running(target)
            if pending:
                await anyio.sleep(delay)
                delay = min(delay * 1.5, 2.0)
    if scope.cancelled_caught:
        names = "; ".join(
            f"{t.service_name} ({last.get(sid) or 'no task yet'})"
            for sid, t in sorted(pending.items(), key=lambda item: item[1].service_name)
        )
        raise DeployTimeout(
            f"services not running after {deadline:.0f}s: {names}",
            hint="see `docker service ps <service>`; re-running deploy resumes",
        )
    return placed


async def _failure(
    gateway: DockerGateway, target: Target, task: Mapping[str, Any]
) -> SwarmRedisError:
    status = task.get("Status") or {}
    error = status.get("Err") or status.get("Message") or status.get("State")
    logs = await task_log_tail(gateway, str(task["ID"]))
    tail = f"; last log lines: {' | '.join(logs)}" if logs else ""
    return ConvergenceError(
        f"{target.service_name} on {target.hostname}: task {status.get('State')}: {error}{tail}",
        hint="fix the cause and re-run deploy; it resumes where it stopped",
    )


async def task_log_tail(gateway: DockerGateway, task_id: str, lines: int = 5) -> list[str]:
    """The last lines a task logged (best effort: empty if the host cannot be asked)."""
    with anyio.move_on_after(5):
        try:
            return await gateway.task_logs(task_id, lines)
        except SwarmRedisError:
            return []
    return []
