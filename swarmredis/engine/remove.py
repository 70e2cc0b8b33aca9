"""``rm``: remove a stack's services, configs, secrets and network, found by label.

Volumes are kept unless asked. Swarm's API cannot delete a volume on another host,
so ``volumes=True`` empties each node's volume on its own host with a one-shot job
(a ``ReplicatedJob`` service pinned to that host); the empty volume objects stay
until ``docker volume prune`` on each host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from swarmredis import labels
from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.errors import DeployTimeout, DockerError, ObjectNotFound
from swarmredis.gateway.docker import DockerGateway, Kind

_WIPE = "rm -rf /data/* /data/.[!.]* /data/..?* ; ls -A /data"


@dataclass
class RemoveResult:
    """What ``rm`` removed, and which volumes it emptied."""

    removed: list[str] = field(default_factory=list)
    wiped: list[str] = field(default_factory=list)
    not_wiped: dict[str, str] = field(default_factory=dict)  # volume -> why

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"removed": self.removed, "wiped_volumes": self.wiped,
                "volumes_not_emptied": self.not_wiped}


def volume_homes(services: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(volume, node id, image) of every named volume mount of pinned services (pure)."""
    out = []
    for service in services:
        task = (service.get("Spec") or {}).get("TaskTemplate") or {}
        node_id = _pinned(task)
        image = str((task.get("ContainerSpec") or {}).get("Image", ""))
        for mount in (task.get("ContainerSpec") or {}).get("Mounts") or []:
            if mount.get("Type") == "volume" and node_id:
                out.append((str(mount["Source"]), node_id, image))
    return sorted(out)


def _pinned(task: Mapping[str, Any]) -> str | None:
    for constraint in (task.get("Placement") or {}).get("Constraints") or []:
        key, _, value = str(constraint).replace(" ", "").partition("==")
        if key == "node.id":
            return value
    return None


async def remove_stack(
    gateway: DockerGateway,
    stack: str,
    *,
    volumes: bool = False,
    report: Reporter = silent,
    concurrency: int = 16,
    deadline: float = 120.0,
) -> RemoveResult:
    """Remove everything of ``stack`` (services first, then configs, secrets, network)."""
    await gateway.require_manager()
    result = RemoveResult()
    limiter = anyio.CapacityLimiter(concurrency)
    services = await gateway.list("service", stack)
    homes = volume_homes(services)
    others = [await gateway.list(k, stack) for k in ("secret", "config", "network")]
    if not services and not any(others):
        raise ObjectNotFound(f"no stack named {stack!r} on this Swarm (nothing to remove)")
    await _remove_all(gateway, "service", services, result, report, limiter)
    await _wait_tasks_gone(gateway, [str(s["ID"]) for s in services], deadline)
    for kind in ("config", "secret", "network"):
        await _remove_all(gateway, kind, await gateway.list(kind, stack), result, report, limiter)
    # The manager lists a removed overlay network until the last task's container has
    # left it; a deploy in that window would find a network that is no longer there.
    for network in others[2]:
        await _wait_gone(gateway, "network", str(network["Id"]), deadline)
    if volumes and homes:
        await wipe_volumes(gateway, stack, homes, result, report, limiter, deadline)
    return result


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
            await _remove_retrying(gateway, kind, str(obj.get("ID") or obj.get("Id")))
        result.removed.append(name)
        report(Event("rm", name, "done", f"{kind} removed"))

    async with anyio.create_task_group() as tg:
        for obj in objects:
            tg.start_soon(one, obj)


async def _remove_retrying(gateway: DockerGateway, kind: Kind, ident: str) -> None:
    # A network or secret stays "in use" for a moment after its tasks are gone.
    for attempt in range(40):
        try:
            await gateway.remove(kind, ident)
            return
        except DockerError:
            if attempt == 39:
                raise
            await anyio.sleep(0.5)


async def _wait_tasks_gone(gateway: DockerGateway, service_ids: list[str], deadline: float) -> None:
    alive = ("running", "starting", "preparing")
    with anyio.move_on_after(deadline):
        while True:
            try:
                tasks = await gateway.tasks(service_ids)
            except ObjectNotFound:  # the engine forgets a removed service's tasks
                return
            if not any((t.get("Status") or {}).get("State") in alive for t in tasks):
                return
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


async def wipe_volumes(
    gateway: DockerGateway,
    stack: str,
    homes: Sequence[tuple[str, str, str]],
    result: RemoveResult,
    report: Reporter,
    limiter: anyio.CapacityLimiter,
    deadline: float,
) -> None:
    """Empty each volume on its host with a one-shot job, then remove the jobs."""

    async def one(volume: str, node_id: str, image: str) -> None:
        async with limiter:
            job = await gateway.create("service", _wipe_job(stack, volume, node_id, image))
            try:
                await _wait_job(gateway, job, volume, deadline)
            except DockerError as error:  # e.g. the image never reached that host
                result.not_wiped[volume] = error.message
                report(Event("rm", volume, "fail", error.message))
                return
            finally:
                with anyio.CancelScope(shield=True):
                    await gateway.remove("service", job)
        result.wiped.append(volume)
        report(Event("rm", volume, "done", "volume emptied on its host"))

    async with anyio.create_task_group() as tg:
        for volume, node_id, image in homes:
            tg.start_soon(one, volume, node_id, image)


def _wipe_job(stack: str, volume: str, node_id: str, image: str) -> dict[str, Any]:
    return {
        "Name": f"{stack}_wipe-{volume.rsplit('_', 1)[-1]}",
        "Labels": {labels.MANAGED: "true", labels.STACK: stack, labels.KIND: "wipe-job"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": image,
                "Command": ["sh", "-c", _WIPE],
                "User": "0:0",  # files in the volume may belong to any uid
                "Mounts": [{"Type": "volume", "Source": volume, "Target": "/data"}],
            },
            "Placement": {"Constraints": [f"node.id=={node_id}"]},
            "RestartPolicy": {"Condition": "none"},
        },
        "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
    }


async def _wait_job(gateway: DockerGateway, job: str, volume: str, deadline: float) -> None:
    with anyio.move_on_after(deadline):
        while True:
            states = [(t.get("Status") or {}) for t in await gateway.tasks([job])]
            if any(s.get("State") == "complete" for s in states):
                return
            failed = [s for s in states if s.get("State") in ("failed", "rejected")]
            if failed:
                raise DockerError(f"could not empty volume {volume}: {failed[0].get('Err')}")
            await anyio.sleep(0.5)
    raise DeployTimeout(f"emptying volume {volume} did not finish within {deadline:.0f}s")
