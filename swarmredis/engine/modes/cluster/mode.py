"""Redis Cluster mode: shards of a primary and its replicas, slots spread over the shards.

Each step of the Mode protocol, and where it lives:

- members, the planned slots: ``members.py`` (pure)
- bootstrap: ``bootstrap.py``, decisions in ``plan.py`` (pure)
- before a primary restarts, and giving roles back: ``failover.py``, choices in ``roles.py``
- health: ``health.py`` (pure)
- slots even over the shards (the bootstrap's last phase): ``reshard.py``, ``migrate.py``,
  choices in ``moves.py`` (pure)
- retiring nodes of a lower count: ``retire.py``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swarmredis.engine.context import RunContext
from swarmredis.engine.modes.base import Action, BootstrapReport, Handover, Member, Removal
from swarmredis.engine.modes.cluster.bootstrap import REPLICA_MIGRATION, bootstrap_cluster
from swarmredis.engine.modes.cluster.failover import before_restart, restore_planned_primaries
from swarmredis.engine.modes.cluster.health import judge_cluster
from swarmredis.engine.modes.cluster.members import ClusterMember, cluster_members
from swarmredis.engine.modes.cluster.retire import retire_members
from swarmredis.engine.modes.cluster.timing import WINDOW_SETTINGS, configured_timing
from swarmredis.engine.redis.verdict import NodeHealth, Probe, Verdict
from swarmredis.plan.state import DesiredState
from swarmredis.plan.tasks import Placed


class ClusterMode:
    """The Mode protocol for ``mode: cluster``."""

    name = "cluster"
    hands_over = True
    reads_cluster = True
    settings = WINDOW_SETTINGS  # health flags a forming window left open

    def claims(self, planned_roles: set[str], sharded: bool) -> bool:
        return sharded

    def members(self, desired: DesiredState, placed: Mapping[str, Placed]) -> list[Member]:
        return [Member(m.name, m.endpoint, m.server_name) for m in cluster_members(desired, placed)]

    async def bootstrap(
        self, run: RunContext, desired: DesiredState, placed: Mapping[str, Placed]
    ) -> BootstrapReport:
        current = None
        if (reader := run.placement) is not None:

            async def current() -> list[ClusterMember]:
                return cluster_members(desired, await reader())

        return await bootstrap_cluster(
            cluster_members(desired, placed),
            run.access,
            limiter=run.limiter,
            configured=configured_timing(desired.stack.config),
            current_members=current,
            progress=run.report,
            replica_migration=desired.stack.config.get(REPLICA_MIGRATION, "no"),
        )

    def judge(self, probes: Sequence[Probe], lines: dict[str, NodeHealth]) -> Verdict:
        return judge_cluster(probes, lines)

    async def before_restart(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        restarting: Sequence[str],
    ) -> list[Handover]:
        return await before_restart(run, cluster_members(desired, placed), restarting)

    async def restore_roles(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        touched: set[str] | None,
    ) -> list[Action]:
        members = cluster_members(desired, placed)
        shards = None if touched is None else {m.shard for m in members if m.name in touched}
        return await restore_planned_primaries(run, members, shards)

    async def retire(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        remove: Removal,
    ) -> list[Action]:
        return await retire_members(run, cluster_members(desired, placed), remove)
