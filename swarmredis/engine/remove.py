"""``rm``: stop and remove a stack's services, then its configs, secrets and network.

Services are scaled to zero first and their tasks waited for (bounded), so Redis
writes its last AOF/RDB and leaves the network before anything else goes. Volumes
are kept unless asked. Swarm's API cannot delete a volume on another host, so
``volumes=True`` empties the stack's volumes on every eligible host with one
``GlobalJob`` service (a node that moved left its old volume behind on its old host:
that one is emptied too). Docker creates an empty volume on a host that had none;
the empty volume objects stay until ``docker volume prune`` on each host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from swarmredis import labels
from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.errors import DeployTimeout, DockerError, ObjectNotFound
from swarmredis.gateway.docker import DockerGateway, Kind

_ALIVE = frozenset(
    {"new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"}
)
_WIPE = 'for v in /v/*; do rm -rf "$v"/* "$v"/.[!.]* "$v"/..?*; done; ls -A /v/*'


@dataclass(frozen=True)
class VolumeSet:
    """What rm must know to empty a stack's volumes without its services."""

    names: tuple[str, ...]
    image: str
    constraints: tuple[str, ...] = ()


@dataclass
class RemoveResult:
    """What ``rm`` removed, and on which hosts it emptied the volumes."""

    removed: list[str] = field(default_factory=list)
    wiped: dict[str, list[str]] = field(default_factory=dict)  # hostname -> volumes
    not_wiped: dict[str, str] = field(default_factory=dict)  # hostname -> why

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "removed": self.removed,
            "wiped_volumes": self.wiped,
            "volumes_not_emptied": self.not_wiped,
        }


def volumes_of(services: Sequence[Mapping[str, Any]]) -> VolumeSet | None:
    """The named volumes, image and stack constraints of a stack's services (pure)."""
    names: set[str] = set()
    image = ""
    constraints: tuple[str, ...] = ()
    for service in services:
        task = (service.get("Spec") or {}).get("TaskTemplate") or {}
        container = task.get("ContainerSpec") or {}
        image = image or str(container.get("Image", ""))
        names.update(
            str(m["Source"]) for m in container.get("Mounts") or [] if m.get("Type") == "volume"
        )
        constraints = constraints or tuple(
            c
            for c in (task.get("Placement") or {}).get("Constraints") or []
            if not str(c).replace(" ", "").startswith("node.id==")
        )
    if not names:
        return None
    return VolumeSet(tuple(sorted(names)), image, constraints)


async def remove_stack(
    gateway: DockerGateway,
    stack: str,
    *,
    volumes: bool = False,
    known_volumes: VolumeSet | None = None,
    report: Reporter = silent,
    concurrency: int = 16,
    deadline: float = 120.0,
) -> RemoveResult:
    """Remove everything of ``stack``; with ``volumes``, empty its volumes on every host.

    ``known_volumes`` (from the stack file) lets ``--volumes`` work after the services
    are already gone (e.g. after ``docker stack rm``).
    """
    await gateway.require_manager()
    result = RemoveResult()
    limiter = anyio.CapacityLimiter(concurrency)
    services = await gateway.list("service", stack)
    found = volumes_of(services)
    others = {k: await gateway.list(k, stack) for k in ("secret", "config", "network")}
    if not services and not any(others.values()) and not (volumes and known_volumes):
        raise ObjectNotFound(f"no stack named {stack!r} on this Swarm (nothing to remove)")
    await stop_services(gateway, services, report, limiter, deadline)
    await _remove_all(gateway, "service", services, result, report, limiter)
    for kind in ("config", "secret", "network"):
        await _remove_all(gateway, kind, await gateway.list(kind, stack), result, report, limiter)
    # The manager lists a removed overlay network until the last task's container has
    # left it; a deploy in that window would find a network that is no longer there.
    for network in others["network"]:
        await _wait_gone(gateway, "network", str(network["Id"]), deadline)
    wanted = _merge(found, known_volumes)
    if volumes and wanted:
        await wipe_volumes(gateway, stack, wanted, result, report, deadline)
    return result


def _merge(a: VolumeSet | None, b: VolumeSet | None) -> VolumeSet | None:
    if a is None or b is None:
        return a or b
    return VolumeSet(
        tuple(sorted({*a.names, *b.names})), a.image or b.image, a.constraints or b.constraints
    )


async def stop_services(
    gateway: DockerGateway,
    services: Sequence[Mapping[str, Any]],
    report: Reporter,
    limiter: anyio.CapacityLimiter,
    deadline: float,
) -> None:
    """Scale every service to zero and wait (bounded) until its tasks have stopped.

    A task on a host that is down never reports back: after ``deadline`` rm goes on.
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
    with anyio.move_on_after(deadline):
        while ids:
            tasks = await gateway.tasks(ids)
            if not any((t.get("Status") or {}).get("State") in _ALIVE for t in tasks):
                return
            await anyio.sleep(0.5)


async def _remove_all(
    gateway: DockerGateway,
    kind: Kind,
    objects: Sequence[Mapping[str, Any]],
    result: RemoveResult,
    report: Reporter,
    limiter: anyio.CapacityLimiter,
) -> None:
    async def one(obj: Mapping[str, Any]) -> None:
        name = str((obj.get("Spec") or {}).get("Name") or obj.get("Name") or obj["ID"])
        async with limiter:
            await remove_when_released(gateway, kind, str(obj.get("ID") or obj.get("Id")))
        result.removed.append(name)
        report(Event("rm", name, "done", f"{kind} removed"))

    async with anyio.create_task_group() as tg:
        for obj in objects:
            tg.start_soon(one, obj)


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


async def _wait_gone(gateway: DockerGateway, kind: Kind, ident: str, deadline: float) -> None:
    with anyio.move_on_after(deadline):
        while True:
            try:
                await gateway.inspect(kind, ident)
            except ObjectNotFound:
                return
            await anyio.sleep(0.5)
    raise DeployTimeout(f"{kind} {ident} still listed {deadline:.0f}s after its removal")


def wipe_job(stack: str, volumes: VolumeSet) -> dict[str, Any]:
    """A GlobalJob that empties every volume of the stack on every eligible host (pure)."""
    return {
        "Name": f"{stack}_wipe-volumes",
        "Labels": {labels.MANAGED: "true", labels.STACK: stack, labels.KIND: "wipe-job"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": volumes.image,
                "Command": ["sh", "-c", _WIPE],
                "User": "0:0",  # files in the volumes may belong to any uid
                "Mounts": [
                    {"Type": "volume", "Source": name, "Target": f"/v/{name}"}
                    for name in volumes.names
                ],
            },
            "Placement": {"Constraints": list(volumes.constraints)},
            "RestartPolicy": {"Condition": "none"},
        },
        "Mode": {"GlobalJob": {}},
    }


async def wipe_volumes(
    gateway: DockerGateway,
    stack: str,
    volumes: VolumeSet,
    result: RemoveResult,
    report: Reporter,
    deadline: float,
) -> None:
    """Run the wipe job, record each host's outcome, remove the job."""
    hostnames = {
        str(n["ID"]): str((n.get("Description") or {}).get("Hostname", n["ID"]))
        for n in await gateway.nodes()
    }
    job = await gateway.create("service", wipe_job(stack, volumes))
    try:
        tasks = await _wait_job(gateway, job, deadline)
    finally:
        with anyio.CancelScope(shield=True):
            await gateway.remove("service", job)
    for host, state, why in _outcomes(tasks, hostnames):
        if state == "complete":
            result.wiped[host] = list(volumes.names)
            report(Event("rm", host, "done", f"emptied {len(volumes.names)} volume(s)"))
        else:
            result.not_wiped[host] = why
            report(Event("rm", host, "fail", f"volumes not emptied: {why}"))


def _outcomes(
    tasks: Iterable[Mapping[str, Any]], hostnames: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """One (host, state, why) per host: ``complete`` if any of its tasks completed, else
    its newest failure (Swarm re-creates rejected job tasks, so a host may have many)."""
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for task in tasks:
        by_node.setdefault(str(task.get("NodeID")), []).append(task)
    out = []
    for node_id, own in by_node.items():
        host = hostnames.get(node_id, node_id)
        done = [t for t in own if (t.get("Status") or {}).get("State") == "complete"]
        task = done[0] if done else max(own, key=lambda t: str(t.get("UpdatedAt", "")))
        status = task.get("Status") or {}
        why = str(status.get("Err") or status.get("Message") or status.get("State"))
        out.append((host, str(status.get("State")), why))
    return sorted(out)


def _settled(tasks: Sequence[Mapping[str, Any]]) -> bool:
    """Every host with a task has completed it or failed at least once."""
    states: dict[str, set[str]] = {}
    for task in tasks:
        states.setdefault(str(task.get("NodeID")), set()).add(
            str((task.get("Status") or {}).get("State"))
        )
    return bool(states) and all(s & {"complete", "failed", "rejected"} for s in states.values())


async def _wait_job(gateway: DockerGateway, job: str, deadline: float) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    with anyio.move_on_after(deadline):
        while True:
            tasks = await gateway.tasks([job])
            if _settled(tasks):
                return tasks
            await anyio.sleep(0.5)
    raise DeployTimeout(
        f"emptying the volumes did not finish within {deadline:.0f}s",
        hint="see `docker service ps` of the wipe job; re-run rm --volumes",
    )
