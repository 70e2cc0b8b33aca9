"""Rolling updates of a healthy stack: hand over first, make the stack whole after.

Swarm restarts a service's task when its spec changes; the apply does that in batches
of ``update.parallelism``. For a stack that is healthy, this guard wraps each batch:

- before: the mode moves what the restarting nodes serve to linked replicas outside the
  batch (``Mode.before_restart``: cluster, a coordinated ``CLUSTER FAILOVER`` of each
  slot-serving node; replication, a coordinated Sentinel handover of the primary role),
  so no primary is restarted while it serves;
- after (every mode): the bootstrap runs again (it only adds what is missing: a moved
  cluster node comes back empty and is MEET and REPLICATEd; replicas must be linked and
  Sentinels agree again) and waits until the stack is whole, before the next batch may
  restart anything;
- the guard records what it handed over (``touched``); after the bootstrap, deploy hands
  it back to the planned primaries (``Mode.restore_roles``), with everything else a
  failover moved unless ``--keep-roles``.

Without it, restarting primaries one after another can outrun Redis's own failover and
leave shards without a primary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from swarmredis.engine.context import RunContext
from swarmredis.engine.events import Event
from swarmredis.engine.flows.status import stack_status
from swarmredis.engine.modes.base import Handover, Mode
from swarmredis.engine.redis.verdict import Status, failover_only, without_standby
from swarmredis.errors import DowntimeRefused
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.diff import Plan
from swarmredis.plan.state import DesiredState
from swarmredis.plan.tasks import Placed


@dataclass
class StackGuard:
    """Wraps each batch of a rolling update (see the module doc)."""

    desired: DesiredState
    mode: Mode
    run: RunContext
    handed: list[Handover] = field(default_factory=list)  # (planned primary, replica)

    async def before(self, restarting: Sequence[str], placed: Mapping[str, Placed]) -> None:
        """Move slots (or the primary role) off the nodes about to restart."""
        self.handed += await self.mode.before_restart(self.run, self.desired, placed, restarting)

    @property
    def touched(self) -> set[str]:
        """Nodes whose shard (or primary role) this update handed over."""
        return {name for pair in self.handed for name in pair}

    async def after(self, placed: Mapping[str, Placed]) -> None:
        """Bring restarted or moved nodes back and wait until the stack is whole again."""
        boot = await self.mode.bootstrap(self.run, self.desired, placed)
        for action in boot.actions:
            self.run.report(Event("rolling", action.node, "info", str(action)))
        stack = self.desired.stack
        self.run.report(Event("rolling", stack.name, "done", f"{stack.mode} whole again"))


async def rolling_guard(
    gateway: DockerGateway,
    plan: Plan,
    mode: Mode,
    run: RunContext,
    *,
    allow_downtime: bool = False,
) -> StackGuard | None:
    """A guard for the rolling update when a healthy stack will have services restarted.

    A primary that would restart with no linked replica to stand in for it is refused
    (``DowntimeRefused``) before anything changes, unless ``allow_downtime``."""
    stack = plan.desired.stack
    restarting = [c.logical for c in plan.items if c.kind == "service" and c.action == "update"]
    if not restarting:
        return None
    current = await stack_status(gateway, stack.name, run)
    if not (current.status is Status.HEALTHY or failover_only(current)):
        # e.g. a host is lost: nodes to move cannot hand over or be waited for; the
        # bootstrap after the apply repairs the cluster
        message = f"{current.status.value} before the update: plain rolling restart"
        run.report(Event("rolling", stack.name, "info", message))
        return None
    alone = without_standby(current, restarting) if mode.hands_over else []
    if alone and not allow_downtime:
        names = ", ".join(n.name for n in alone)
        raise DowntimeRefused(
            f"{stack.name}: the update restarts {names}, which serve(s) as primary with no "
            "linked replica to stand in: their data would be offline while they restart",
            hint="add replicas first (replicas: 1), wait until `swarmredis status` is "
            "healthy, or accept the downtime with --allow-downtime",
            nodes=[n.name for n in alone],
        )
    for node in alone:
        run.report(Event("rolling", node.name, "skip", "restarts with no replica (downtime)"))
    return StackGuard(plan.desired, mode, run)
