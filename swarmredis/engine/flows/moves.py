"""What `plan` says of slot moves when it adds or retires shards of a live cluster: the
ones `deploy` would make once the new primaries join, or to drain the retiring ones, from
what every primary serves now (read with `status`'s probes), or why they are not known.
(A cluster whose shares are uneven for another reason, such as an interrupted scale-out,
shows in `status`; `deploy` evens it.)"""

from __future__ import annotations

import anyio

from swarmredis.engine.context import RunContext, admin_access
from swarmredis.engine.flows.status import stack_status
from swarmredis.errors import ObjectNotFound, PKIError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.pki.store import CertStore
from swarmredis.plan.diff import Plan
from swarmredis.plan.slots import PlannedMoves, SlotPlanError, even_out


async def planned_moves(gateway: DockerGateway, plan: Plan, store: CertStore) -> PlannedMoves:
    """When the plan adds or retires shards of a live cluster (``Plan.reshards``), the
    slot moves `deploy` would make; nothing otherwise."""
    desired = plan.desired
    if not plan.reshards:
        return PlannedMoves()
    try:
        access = await anyio.to_thread.run_sync(lambda: admin_access(store))
        report = await stack_status(gateway, desired.stack.name, RunContext.create(access))
    except (PKIError, ObjectNotFound) as error:
        return PlannedMoves(unknown=f"cannot read the slots: {error}")
    held = {n.name: n.slots for n in report.nodes if n.role == "primary" and n.slots}
    shards: dict[int, list[str]] = {}
    for node in sorted(desired.nodes, key=lambda n: n.role != "primary"):
        if node.shard is not None and not node.retiring:  # a retiring shard gives all
            shards.setdefault(node.shard, []).append(node.name)
    try:
        return PlannedMoves(tuple(even_out(shards, held)))
    except SlotPlanError as error:
        return PlannedMoves(unknown=f"cannot plan from what the nodes serve now: {error}")
