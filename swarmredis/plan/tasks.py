"""Swarm tasks as records, and the rules the engine reads them by (pure).

The Docker API returns a task as a nested dict; ``Task.from_api`` reads it once, so no
other module digs through ``Status``/``Spec``/``NetworksAttachments`` by hand. The rules:
which task is a service's current one, whether a task failed, what it says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FAILED = frozenset({"failed", "rejected"})
ALIVE = frozenset(
    {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"}
)
# The task template fields a task's copy does not mirror: Placement (a change of placement
# alone does not replace a task that still fits, swarmkit ``IsTaskDirty``) and Runtime
# (the API fills it in on the service, "container", but not on the task's copy).
_NOT_COMPARED = frozenset({"Placement", "Runtime"})


@dataclass(frozen=True)
class Task:
    """One Swarm task: which service and node, what it is meant to do, what it does."""

    id: str
    service_id: str
    node_id: str
    desired_state: str
    state: str
    error: str
    message: str
    updated_at: str  # the manager's clock, when it stored the task
    spec: Mapping[str, Any] = field(default_factory=dict, repr=False)
    networks: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (network id, addresses)
    status_at: str = ""  # the host's clock, when its agent reported the state

    @classmethod
    def from_api(cls, raw: Mapping[str, Any]) -> Task:
        """Read a task dict of the Docker API (``GET /tasks``)."""
        status = raw.get("Status") or {}
        networks = tuple(
            (
                str((attachment.get("Network") or {}).get("ID", "")),
                tuple(str(a) for a in attachment.get("Addresses") or []),
            )
            for attachment in raw.get("NetworksAttachments") or []
        )
        return cls(
            id=str(raw.get("ID", "")),
            service_id=str(raw.get("ServiceID", "")),
            node_id=str(raw.get("NodeID", "")),
            desired_state=str(raw.get("DesiredState", "")),
            state=str(status.get("State", "")),
            error=str(status.get("Err") or ""),
            message=str(status.get("Message") or ""),
            updated_at=str(raw.get("UpdatedAt", "")),
            spec=raw.get("Spec") or {},
            networks=networks,
            status_at=str(status.get("Timestamp", "")),
        )

    @property
    def failed(self) -> bool:
        return self.state in FAILED

    @property
    def alive(self) -> bool:
        return self.state in ALIVE

    @property
    def words(self) -> str:
        """What the engine or scheduler says about it: its error, else its message."""
        return self.error or self.message

    def overlay_ip(self, network_id: str | None) -> str | None:
        """The task's address on this network (any, when None): ``10.0.1.5/24`` -> ``10.0.1.5``."""
        for net, addresses in self.networks:
            if network_id is None or net == network_id:
                for address in addresses:
                    return address.split("/", 1)[0]
        return None

    def made_from(self, template: Mapping[str, Any]) -> bool:
        """Whether the task was made from this task template (Swarm's notion of a task
        that is not dirty; see ``_NOT_COMPARED``)."""
        return _comparable(self.spec) == _comparable(template)


def _comparable(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in _NOT_COMPARED}


def tasks_of(raw: Iterable[Mapping[str, Any]]) -> list[Task]:
    """Every task of an API listing, as records."""
    return [Task.from_api(t) for t in raw]


def by_service(tasks: Iterable[Task]) -> dict[str, list[Task]]:
    """Tasks grouped by their service id."""
    out: dict[str, list[Task]] = {}
    for task in tasks:
        out.setdefault(task.service_id, []).append(task)
    return out


def by_node(tasks: Iterable[Task]) -> dict[str, list[Task]]:
    """Tasks grouped by the Swarm node they were scheduled on."""
    out: dict[str, list[Task]] = {}
    for task in tasks:
        out.setdefault(task.node_id, []).append(task)
    return out


def newest(tasks: Sequence[Task]) -> Task | None:
    """The most recently updated task (None for none)."""
    return max(tasks, key=lambda t: t.updated_at, default=None)


def current(tasks: Sequence[Task]) -> Task | None:
    """The task that stands for a service now: the newest one meant to run, else the newest."""
    meant = [t for t in tasks if t.desired_state == "running"]
    return newest(meant or tasks)


def summary(tasks: Sequence[Task]) -> str:
    """The newest task's state and the scheduler's words, e.g. ``pending: no suitable node``."""
    task = newest(tasks)
    if task is None:
        return ""
    return f"{task.state or '?'}: {task.words}" if task.words else task.state or "?"


@dataclass(frozen=True)
class Placed:
    """A converged service: its running task, the Swarm node it runs on, its overlay address."""

    logical: str
    service_id: str
    task_id: str
    node_id: str
    overlay_ip: str | None
