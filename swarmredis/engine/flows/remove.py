"""``rm``: stop and remove a stack's services, then its configs, secrets and network.

Services are scaled to zero first and their tasks waited for (bounded), so Redis
writes its last AOF/RDB and leaves the network before anything else goes. Volumes
are kept unless asked. Swarm's API cannot delete a volume on another host, so
``volumes=True`` empties the stack's volumes on every eligible host with one
``GlobalJob`` service (``plan.jobs.wipe_job``; a node that moved left its old volume
behind on its old host: that one is emptied too). Docker creates an empty volume on a
host that had none; the empty volume objects stay until ``docker volume prune`` on each
host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio

from swarmredis.constants import DEFAULT_CONCURRENCY, LOCK_WAIT_S
from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.engine.swarm.jobs import run_global_job
from swarmredis.engine.swarm.lock import stack_lock
from swarmredis.engine.swarm.records import drop_volume_record, read_volume_record
from swarmredis.engine.swarm.remove import remove_all, stop_services, wait_gone
from swarmredis.engine.swarm.rotation import clear_rotation
from swarmredis.errors import ObjectNotFound
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.jobs import VolumeSet, job_outcomes, volumes_of, wipe_failure, wipe_job


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


async def remove_stack(
    gateway: DockerGateway,
    stack: str,
    *,
    volumes: bool = False,
    known_volumes: VolumeSet | None = None,
    report: Reporter = silent,
    concurrency: int = DEFAULT_CONCURRENCY,
    deadline: float = 120.0,
    lock_timeout: float = LOCK_WAIT_S,
) -> RemoveResult:
    """Remove everything of ``stack``; with ``volumes``, empty its volumes on every host.

    ``known_volumes`` (from the stack file) lets ``--volumes`` work after the services
    are already gone (e.g. after ``docker stack rm``).
    """
    await gateway.require_manager()
    async with stack_lock(gateway, stack, "rm", wait=lock_timeout, report=report):
        return await _remove(gateway, stack, volumes, known_volumes, report, concurrency, deadline)


async def _remove(
    gateway: DockerGateway,
    stack: str,
    volumes: bool,
    known_volumes: VolumeSet | None,
    report: Reporter,
    concurrency: int,
    deadline: float,
) -> RemoveResult:
    result = RemoveResult()
    limiter = anyio.CapacityLimiter(concurrency)
    services = await gateway.list("service", stack)
    recorded = await read_volume_record(gateway, stack)  # also after `docker stack rm`
    found = volumes_of(services)
    others = {k: await gateway.list(k, stack) for k in ("secret", "config", "network")}
    known = _union(known_volumes, recorded)
    if not services and not any(others.values()) and not (volumes and known):
        raise ObjectNotFound(
            f"no stack named {stack!r} on this Swarm (nothing to remove)",
            hint="its volumes, if any, were never recorded: `swarmredis rm STACKFILE "
            "--volumes` finds them from the stack file",
        )
    await stop_services(gateway, services, report, limiter, deadline)
    result.removed += await remove_all(gateway, "service", services, report, limiter)
    for kind in ("config", "secret", "network"):
        objects = await gateway.list(kind, stack)
        result.removed += await remove_all(gateway, kind, objects, report, limiter)
    # The manager lists a removed overlay network until the last task's container has
    # left it; a deploy in that window would find a network that is no longer there.
    for network in others["network"]:
        await wait_gone(gateway, "network", str(network["Id"]), deadline)
    # a rotation of a stack that is gone is over for the Swarm; the store keeps its record
    await clear_rotation(gateway, stack)
    wanted = _union(found, known)
    if volumes and wanted:
        await wipe_volumes(gateway, stack, wanted, result, report, deadline)
        if not result.not_wiped:
            await drop_volume_record(gateway, stack)
    return result


def _union(one: VolumeSet | None, other: VolumeSet | None) -> VolumeSet | None:
    return one.merged(other) if one else other


async def wipe_volumes(
    gateway: DockerGateway,
    stack: str,
    volumes: VolumeSet,
    result: RemoveResult,
    report: Reporter,
    deadline: float,
) -> None:
    """Run the wipe job and record each host's outcome."""
    hostnames = {
        str(n["ID"]): str((n.get("Description") or {}).get("Hostname", n["ID"]))
        for n in await gateway.nodes()
    }
    tasks = await run_global_job(gateway, wipe_job(stack, volumes), deadline)
    for host, state, why in job_outcomes(tasks, hostnames):
        if state == "complete":
            result.wiped[host] = list(volumes.names)
            report(Event("rm", host, "done", f"emptied {len(volumes.names)} volume(s)"))
        else:
            result.not_wiped[host] = wipe_failure(why, volumes.image)
            report(Event("rm", host, "fail", f"volumes not emptied: {result.not_wiped[host]}"))
