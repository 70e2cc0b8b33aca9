"""The phase a ``certs rotate`` reached, recorded in the Swarm as well as in the store.

A Swarm config ``swarmredis-rotation-<stack>`` carries the rotation's kind, phase and
start in its labels (configs are immutable, their labels are not). Written after the
store's record at every phase, removed after it at the end. It tells a run from another
machine, or with another copy of the store, that a rotation is under way: such a run
refuses rather than start a second CA rotation over the first.
"""

from __future__ import annotations

import base64
import json

from swarmredis import labels
from swarmredis.engine.swarm.records import find_config, relabel_config
from swarmredis.gateway.docker import DockerGateway
from swarmredis.pki.rotation import RotationRecord

RECORD_OF = f"{labels.PREFIX}.rotation-of"  # the stack
RECORD = f"{labels.PREFIX}.rotation"  # JSON: {"kind", "phase", "started"}


def record_name(stack: str) -> str:
    return f"swarmredis-rotation-{stack}"


def _labels(stack: str, record: RotationRecord) -> dict[str, str]:
    value = {"kind": record.kind, "phase": str(record.phase), "started": record.started}
    return {
        labels.MANAGED: "true",
        RECORD_OF: stack,
        RECORD: json.dumps(value, sort_keys=True),
    }


async def read_swarm_rotation(gateway: DockerGateway, stack: str) -> dict[str, str] | None:
    """The rotation the Swarm records for ``stack`` (kind, phase, started), if any."""
    found = await find_config(gateway, record_name(stack))
    if found is None:
        return None
    raw = ((found.get("Spec") or {}).get("Labels") or {}).get(RECORD, "")
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None


async def record_rotation(gateway: DockerGateway, stack: str, record: RotationRecord) -> None:
    """Make the Swarm's record say ``record``'s kind and phase."""
    found = await find_config(gateway, record_name(stack))
    wanted = _labels(stack, record)
    if found is None:
        data = base64.b64encode(wanted[RECORD].encode()).decode()
        body = {"Name": record_name(stack), "Labels": wanted, "Data": data}
        await gateway.create("config", body)
        return
    if ((found.get("Spec") or {}).get("Labels") or {}).get(RECORD) != wanted[RECORD]:
        await relabel_config(gateway, found, wanted)


async def clear_rotation(gateway: DockerGateway, stack: str) -> None:
    found = await find_config(gateway, record_name(stack))
    if found is not None:
        await gateway.remove("config", str(found["ID"]))
