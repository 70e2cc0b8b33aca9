"""The record of a stack's volumes in the Swarm (its body and reading: ``plan/jobs.py``).

Written by ``deploy`` once its services exist, only when what it holds changes (volumes
are added to it, never dropped: a volume a stack no longer uses still has data); read by
``rm`` so that ``rm NAME --volumes`` empties them even after ``docker stack rm``; removed
by ``rm --volumes`` once every host emptied them.
"""

from __future__ import annotations

from typing import Any

from swarmredis.errors import ObjectNotFound
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.jobs import (
    VolumeSet,
    record_body,
    record_labels,
    record_name,
    recorded_volumes,
)


async def find_config(gateway: DockerGateway, name: str) -> dict[str, Any] | None:
    """The config named ``name`` (a record), if it exists."""
    try:
        return await gateway.inspect("config", name)
    except ObjectNotFound:
        return None


async def relabel_config(
    gateway: DockerGateway, found: dict[str, Any], new: dict[str, str]
) -> None:
    """Add ``new`` to the labels of config ``found`` (its data cannot change)."""
    spec = dict(found.get("Spec") or {})
    spec["Labels"] = {**(spec.get("Labels") or {}), **new}
    await gateway.update_config(str(found["ID"]), int(found["Version"]["Index"]), spec)


async def _find(gateway: DockerGateway, stack: str) -> dict[str, Any] | None:
    return await find_config(gateway, record_name(stack))


async def read_volume_record(gateway: DockerGateway, stack: str) -> VolumeSet | None:
    """The volumes recorded for ``stack``, if any."""
    found = await _find(gateway, stack)
    return recorded_volumes(found) if found else None


async def record_volumes(gateway: DockerGateway, stack: str, volumes: VolumeSet) -> bool:
    """Make the record hold ``volumes`` too; True if it had to be written."""
    found = await _find(gateway, stack)
    if found is None:
        await gateway.create("config", record_body(stack, volumes))
        return True
    old = recorded_volumes(found)
    wanted = volumes.merged(old)
    if old == wanted:
        return False
    await relabel_config(gateway, found, record_labels(stack, wanted))
    return True


async def drop_volume_record(gateway: DockerGateway, stack: str) -> None:
    found = await _find(gateway, stack)
    if found is not None:
        await gateway.remove("config", str(found["ID"]))
