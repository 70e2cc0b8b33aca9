"""A network the stack file changed (pure): Docker changes no field of a network in
place, so a change means recreating it, which only a stack without services allows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from swarmredis.errors import DockerError

if TYPE_CHECKING:
    from swarmredis.plan.diff import Plan

# The stack-file field behind each NetworkCreate field, for messages.
_NETWORK_FIELDS = {
    "Attachable": "network.attachable",
    "Options": "network.encrypted",
    "IPAM": "network.subnet",
}


def network_fields(paths: Sequence[str]) -> list[str]:
    """The stack-file fields behind changed NetworkCreate paths (others as they are)."""
    return sorted({_NETWORK_FIELDS.get(p.split(".")[0], p) for p in paths})


def network_recreate_refusal(plan: Plan) -> DockerError | None:
    """Why ``plan`` must not recreate its network (None: nothing to recreate, or safe).

    Docker changes no field of a network in place and cannot remove one that services
    use; detaching a live cluster's nodes would restart each twice. So a network is
    recreated only when none of the stack's services exists yet.
    """
    change = next((c for c in plan.items if c.kind == "network" and c.recreate), None)
    in_use = sorted(c.name for c in plan.items if c.kind == "service" and c.id)
    if change is None or not in_use:
        return None
    fields = network_fields(change.fields)
    name = plan.desired.stack.name
    keep = ""
    if "network.attachable" in fields:
        deployed = not plan.desired.stack.network.attachable
        keep = f"set network.attachable: {str(deployed).lower()} to keep the network as it is, or "
    return DockerError(
        f"network {change.name} must be recreated ({', '.join(fields)} changed; Docker cannot"
        f" change a network in place) but services use it: {', '.join(in_use)}",
        hint=f"{keep}run `swarmredis rm {name}` (volumes are kept), then deploy",
    )
