"""Raw Docker API dicts (as aiodocker returns them) -> small frozen records.

Pure converters: the gateway fetches ``GET /nodes``, ``/services``, ``/secrets``,
``/configs`` and ``/networks``; these functions read only the fields the planner
needs and tolerate missing ones (the API omits empty fields).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from swarmredis import labels

ObjectKind = Literal["network", "secret", "config", "service"]
KINDS: tuple[ObjectKind, ...] = ("network", "secret", "config", "service")
_PIN = "node.id=="


@dataclass(frozen=True)
class SwarmNode:
    """One Swarm node (host) as the planner sees it."""

    id: str
    hostname: str
    role: str  # manager | worker
    availability: str  # active | pause | drain
    state: str  # ready | down | unknown | disconnected
    addr: str  # address other hosts and the engine reach it at
    labels: Mapping[str, str] = field(default_factory=dict)
    engine_version: str = ""


@dataclass(frozen=True)
class ObservedObject:
    """A Swarm object of the stack as it exists now."""

    kind: ObjectKind
    id: str
    name: str
    version: int | None  # Version.Index, needed to update services; None for networks
    labels: Mapping[str, str]
    spec: Mapping[str, Any]

    @property
    def spec_hash(self) -> str | None:
        """The spec-hash label swarmredis put on the object, if any."""
        return self.labels.get(labels.SPEC_HASH)

    @property
    def logical(self) -> str | None:
        """Logical node (services) or logical material name (secrets/configs)."""
        key = labels.NODE if self.kind == "service" else labels.LOGICAL
        return self.labels.get(key)


def swarm_node(raw: Mapping[str, Any]) -> SwarmNode:
    """A ``GET /nodes`` item -> ``SwarmNode``."""
    spec = raw.get("Spec") or {}
    status = raw.get("Status") or {}
    description = raw.get("Description") or {}
    return SwarmNode(
        id=str(raw["ID"]),
        hostname=str(description.get("Hostname", "")),
        role=str(spec.get("Role", "worker")),
        availability=str(spec.get("Availability", "active")),
        state=str(status.get("State", "unknown")),
        addr=_node_addr(raw),
        labels=dict(spec.get("Labels") or {}),
        engine_version=str((description.get("Engine") or {}).get("EngineVersion", "")),
    )


def _node_addr(raw: Mapping[str, Any]) -> str:
    # A manager may report Status.Addr 0.0.0.0 (moby#35437); its ManagerStatus.Addr
    # ("10.0.0.2:2377") then carries the real address.
    addr = str((raw.get("Status") or {}).get("Addr", ""))
    if addr in ("", "0.0.0.0"):
        manager_addr = str((raw.get("ManagerStatus") or {}).get("Addr", ""))
        if manager_addr:
            addr = manager_addr.rsplit(":", 1)[0]
    return addr


def observed_object(kind: ObjectKind, raw: Mapping[str, Any]) -> ObservedObject:
    """One ``GET /services|/secrets|/configs|/networks`` item -> ``ObservedObject``."""
    if kind == "network":
        # Networks are not versioned Swarm objects: fields sit at the top level.
        return ObservedObject(
            kind=kind,
            id=str(raw.get("Id") or raw.get("ID", "")),
            name=str(raw.get("Name", "")),
            version=None,
            labels=dict(raw.get("Labels") or {}),
            spec=dict(raw),
        )
    spec = raw.get("Spec") or {}
    version = (raw.get("Version") or {}).get("Index")
    return ObservedObject(
        kind=kind,
        id=str(raw.get("ID", "")),
        name=str(spec.get("Name", "")),
        version=int(version) if version is not None else None,
        labels=dict(spec.get("Labels") or {}),
        spec=dict(spec),
    )


def observed_objects(raw: Mapping[str, Iterable[Mapping[str, Any]]]) -> tuple[ObservedObject, ...]:
    """``{"service": [...], "secret": [...], ...}`` -> observed objects, sorted by kind and name."""
    out = [observed_object(kind, item) for kind in KINDS for item in raw.get(kind, ())]
    return tuple(sorted(out, key=lambda o: (KINDS.index(o.kind), o.name, o.id)))


def pinned_node(service: ObservedObject) -> str | None:
    """The Swarm node id a service is pinned to by its ``node.id==`` constraint."""
    return pinned_node_id(service.spec)


def pinned_node_id(spec: Mapping[str, Any]) -> str | None:
    """The ``node.id==`` pin of a raw ServiceSpec, if it has one."""
    task = spec.get("TaskTemplate") or {}
    for constraint in (task.get("Placement") or {}).get("Constraints") or ():
        text = str(constraint).replace(" ", "")
        if text.startswith(_PIN):
            return text[len(_PIN) :]
    return None


def previous_assignment(objects: Iterable[ObservedObject]) -> dict[str, str]:
    """Logical node -> Swarm node id, as the observed services of the stack are pinned."""
    out: dict[str, str] = {}
    for obj in objects:
        if obj.kind == "service" and obj.logical and (node := pinned_node(obj)):
            out[obj.logical] = node
    return out
