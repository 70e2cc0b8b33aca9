"""Primary + replicas + Sentinel mode.

Each step of the Mode protocol, and where it lives:

- members: ``plan.replication_set`` (pure)
- bootstrap: ``bootstrap.py``, choices in ``plan.py`` (pure)
- before the primary restarts, and giving the role back: ``handover.py`` (a coordinated
  handover through Sentinel)
- health: ``health.py`` (pure)
- replicas a lower count retires: ``retire.py`` (removed, then each Sentinel reset)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swarmredis.engine.context import RunContext
from swarmredis.engine.modes.base import Action, BootstrapReport, Handover, Member, Removal
from swarmredis.engine.modes.replication.bootstrap import bootstrap_replication
from swarmredis.engine.modes.replication.handover import before_restart, restore_primary
from swarmredis.engine.modes.replication.health import judge_replication
from swarmredis.engine.modes.replication.plan import replication_set
from swarmredis.engine.modes.replication.retire import retire_replicas
from swarmredis.engine.redis.verdict import NodeHealth, Probe, Verdict
from swarmredis.plan.state import DesiredState
from swarmredis.plan.tasks import Placed


class ReplicationMode:
    """The Mode protocol for ``mode: replication``."""

    name = "replication"
    hands_over = True
    reads_cluster = False
    settings: tuple[str, ...] = ()

    def claims(self, planned_roles: set[str], sharded: bool) -> bool:
        return not sharded and "standalone" not in planned_roles

    def members(self, desired: DesiredState, placed: Mapping[str, Placed]) -> list[Member]:
        rs = replication_set(desired)
        return [*rs.data, *rs.sentinels]

    async def bootstrap(
        self, run: RunContext, desired: DesiredState, placed: Mapping[str, Placed]
    ) -> BootstrapReport:
        rs = replication_set(desired)
        return await bootstrap_replication(
            rs.data[0],
            rs.data[1:],
            rs.sentinels,
            run.access,
            master_name=rs.master_name,
            priority=rs.priority,
            limiter=run.limiter,
        )

    def judge(self, probes: Sequence[Probe], lines: dict[str, NodeHealth]) -> Verdict:
        return judge_replication(probes, lines)

    async def before_restart(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        restarting: Sequence[str],
    ) -> list[Handover]:
        return await before_restart(run, replication_set(desired), restarting)

    async def restore_roles(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        touched: set[str] | None,
    ) -> list[Action]:
        # one primary role: whatever was touched, it is the planned primary's to take back
        return await restore_primary(run, replication_set(desired))

    async def retire(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        remove: Removal,
    ) -> list[Action]:
        retiring = [n.name for n in desired.retiring]
        return await retire_replicas(run, replication_set(desired), retiring, remove)
