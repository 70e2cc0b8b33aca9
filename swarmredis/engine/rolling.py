"""Rolling updates of a healthy stack: hand slots over first, make the stack whole after.

Swarm restarts a service's task when its spec changes; the apply does that in batches
of ``update.parallelism``. For a stack that is healthy, this guard wraps each batch:

- before (cluster): a node of the batch that serves slots hands them to a linked
  replica with ``CLUSTER FAILOVER`` (coordinated, no write is lost), so no primary is
  restarted; (replication): a primary of the batch hands its role to a linked replica
  outside the batch through Sentinel, coordinated the same way
  (``engine.sentinelhandover``);
- after (every mode): the bootstrap runs again (it only adds what is missing: a moved
  cluster node comes back empty and is MEET and REPLICATEd; replicas must be linked and
  Sentinels agree again) and waits until the stack is whole, before the next batch may
  restart anything;
- the guard records what it handed over (``touched``); after the bootstrap, deploy hands
  it back to the planned primaries (``restore_roles``), with everything else a failover
  moved unless ``--keep-roles``.

Without it, restarting primaries one after another can outrun Redis's own failover and
leave shards without a primary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio

from swarmredis.engine.bootstrap import linked_replicas, read_cluster_state
from swarmredis.engine.clusterplan import Action, ClusterMember, NodeView, restore_candidates
from swarmredis.engine.converge import Placed
from swarmredis.engine.events import Event, Reporter
from swarmredis.engine.members import bootstrap_stack, cluster_members, replication_set
from swarmredis.engine.redisinfo import parse_role
from swarmredis.engine.sentinelhandover import (
    ReplicationSet,
    choose_target,
    current_views,
    hand_over,
)
from swarmredis.errors import DeployTimeout, SwarmRedisError
from swarmredis.gateway.redis import RedisAccess, RedisNode
from swarmredis.plan.state import DesiredState

HANDOVER_TIMEOUT = 60.0


def handover_pairs(
    restarting: Sequence[str], views: Mapping[str, NodeView]
) -> list[tuple[str, str]]:
    """(primary, replica) for each restarting node that serves slots (pure).

    The replica must be linked, and must not be restarted in the same batch.
    """
    pairs = []
    for name in restarting:
        view = views.get(name)
        if view is None or not view.me.is_primary or not view.me.slots:
            continue
        candidates = [
            other
            for other, v in sorted(views.items())
            if other not in restarting
            and v.me.primary_id == view.myid
            and v.replication.get("master_link_status") == "up"
        ]
        if candidates:
            pairs.append((name, candidates[0]))
    return pairs


@dataclass
class StackGuard:
    """Wraps each batch of a rolling update (see the module doc)."""

    desired: DesiredState
    access: RedisAccess
    report: Reporter
    concurrency: int = 16
    handed: list[tuple[str, str]] = field(default_factory=list)  # (planned primary, replica)

    async def before(self, restarting: Sequence[str], placed: Mapping[str, Placed]) -> None:
        """Move slots (or the primary role) off the nodes about to restart."""
        if self.desired.stack.mode == "cluster":
            await self._cluster_before(restarting, placed)
        elif self.desired.stack.mode == "replication":
            await self._replication_before(restarting)

    async def _cluster_before(
        self, restarting: Sequence[str], placed: Mapping[str, Placed]
    ) -> None:
        members = cluster_members(self.desired, placed)
        state = await read_cluster_state(members, self.access, concurrency=self.concurrency)
        by_name = {m.name: m for m in members}
        for primary, replica in handover_pairs(restarting, state.views):
            self.report(
                Event(
                    "rolling", primary, "start", f"hand its slots to {replica} before the restart"
                )
            )
            await _failover_to(by_name[replica], self.access)
            self.handed.append((primary, replica))
            self.report(Event("rolling", primary, "done", f"{replica} serves its slots now"))

    async def _replication_before(self, restarting: Sequence[str]) -> None:
        rs = replication_set(self.desired)
        views = await current_views(rs, self.access, self.concurrency)
        primary, _ = linked_replicas(views)
        if primary is None or primary.name not in restarting:
            return
        target = choose_target(views, avoid=restarting, prefer=[m.name for m in rs.data])
        if target is None:
            self.report(
                Event(
                    "rolling",
                    primary.name,
                    "info",
                    "no linked replica outside this batch: restarted as primary",
                )
            )
            return
        self.report(
            Event(
                "rolling",
                primary.name,
                "start",
                f"hand the primary role to {target} before the restart",
            )
        )
        await hand_over(rs, self.access, target, concurrency=self.concurrency)
        self.handed.append((primary.name, target))
        self.report(Event("rolling", primary.name, "done", f"{target} is primary now"))

    @property
    def touched(self) -> set[str]:
        """Nodes whose shard (or primary role) this update handed over."""
        return {name for pair in self.handed for name in pair}

    async def after(self, placed: Mapping[str, Placed]) -> None:
        """Bring restarted or moved nodes back and wait until the stack is whole again."""
        boot = await bootstrap_stack(self.desired, placed, self.access, self.concurrency)
        for action in boot.actions:
            self.report(Event("rolling", action.node, "info", str(action)))
        self.report(
            Event(
                "rolling", self.desired.stack.name, "done", f"{self.desired.stack.mode} whole again"
            )
        )


async def restore_roles(
    desired: DesiredState,
    placed: Mapping[str, Placed],
    access: RedisAccess,
    report: Reporter,
    *,
    concurrency: int = 16,
    touched: set[str] | None = None,
) -> list[Action]:
    """Hand what failovers moved back to the planned primaries (cluster: the shards of
    ``touched`` nodes, or all; replication: the primary role). Standalone: nothing."""
    mode = desired.stack.mode
    if mode == "cluster":
        members = cluster_members(desired, placed)
        shards = None if touched is None else {m.shard for m in members if m.name in touched}
        return await restore_planned_primaries(
            members, access, report, concurrency=concurrency, shards=shards
        )
    if mode == "replication":
        return await restore_replication_primary(
            replication_set(desired), access, report, concurrency=concurrency
        )
    return []


async def restore_replication_primary(
    rs: ReplicationSet, access: RedisAccess, report: Reporter, *, concurrency: int = 16
) -> list[Action]:
    """Make the planned primary primary again if it is a linked replica now (coordinated
    through Sentinel, no acknowledged write lost); report and leave it if that fails."""
    primary, linked = linked_replicas(await current_views(rs, access, concurrency))
    planned = rs.planned_primary
    if primary is None or primary.name == planned or planned not in linked:
        return []
    try:
        await hand_over(rs, access, planned, concurrency=concurrency)
    except SwarmRedisError as error:  # unreachable, refused, or too slow
        report(Event("roles", planned, "info", f"left as a replica: {error.message}"))
        return []
    report(Event("roles", planned, "done", f"primary again (was {primary.name})"))
    return [
        Action(
            planned,
            ("SENTINEL", "FAILOVER", rs.master_name),
            "planned primary takes the primary role back",
        )
    ]


async def restore_planned_primaries(
    members: Sequence[ClusterMember],
    access: RedisAccess,
    report: Reporter,
    *,
    concurrency: int = 16,
    shards: set[str] | None = None,
) -> list[Action]:
    """Make each planned primary that serves as a linked replica primary again.

    A coordinated ``CLUSTER FAILOVER`` per shard, one after the other (concurrent manual
    failovers compete for the same config epoch): no acknowledged write is lost. Only
    ``shards`` when given. A shard that cannot be handed back is reported and left as it
    is: it still serves. Returns the failovers that completed.
    """
    state = await read_cluster_state(members, access, concurrency=concurrency)
    restored: list[Action] = []
    for member in restore_candidates(members, state.views, shards):
        try:
            await _failover_to(member, access)
        except SwarmRedisError as error:  # unreachable, refused, or too slow
            report(Event("roles", member.name, "info", f"left as a replica: {error.message}"))
            continue
        restored.append(
            Action(member.name, ("CLUSTER", "FAILOVER"), "planned primary takes its shard back")
        )
        report(Event("roles", member.name, "done", "serves its slots again"))
    return restored


async def _failover_to(member: ClusterMember, access: RedisAccess) -> None:
    """Coordinated failover to ``member`` (a linked replica); wait until it is primary."""
    async with access.connect(member.name, member.endpoint, server_name=member.server_name) as node:
        await node.execute("CLUSTER", "FAILOVER")
        await _wait_primary(node, member.name)


async def _wait_primary(node: RedisNode, name: str) -> None:
    """Poll ROLE until the replica took over (a coordinated failover takes ~1 s)."""
    with anyio.move_on_after(HANDOVER_TIMEOUT):
        while True:
            if parse_role(await node.role()).kind == "primary":
                return
            await anyio.sleep(0.2)
    raise DeployTimeout(
        f"{name}: CLUSTER FAILOVER did not complete within {HANDOVER_TIMEOUT:.0f}s",
        hint="nothing was restarted; see `swarmredis status`, then re-run deploy",
    )
