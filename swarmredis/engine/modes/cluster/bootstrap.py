"""Cluster bootstrap by the engine itself (no ``redis-cli --cluster``).

Read every member's view concurrently, classify it (``cluster.plan``), run only what is
missing (fresh: config epochs, MEET, ADDSLOTSRANGE, REPLICATE), re-reading between
phases, then wait until every node is in, every slot is served, all nodes agree on the
configuration and every replica's link is up; then forget old ids of replaced nodes;
last, move slots until the shards hold even shares (``cluster.reshard``: a new shard's
slots, after a scale-out). An existing cluster is never reset. Every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count

import anyio

from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.engine.modes.base import Action, BootstrapReport
from swarmredis.engine.modes.cluster.members import ClusterMember, validate_members
from swarmredis.engine.modes.cluster.plan import (
    ClusterState,
    Condition,
    classify,
    final_pending,
    gossip_pending,
    plan_forget,
    plan_meets,
    plan_replicas,
    plan_slots,
    still_known,
)
from swarmredis.engine.modes.cluster.reshard import rebalance
from swarmredis.engine.modes.cluster.timing import (
    FORMING,
    NO_FAILOVER,
    NODE_TIMEOUT,
    SETTINGS,
    Timing,
    configured_timing,
    retime_actions,
)
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.nodes import bounded, connect_all, fan_out, wait_until
from swarmredis.engine.redis.probe import read_facts
from swarmredis.engine.redis.replies import parse_pairs
from swarmredis.errors import RedisError, SwarmRedisError
from swarmredis.gateway.redis import RedisAccess, RedisNode

GOSSIP_PATIENCE = 3.0  # seconds of waiting for gossip before meeting stragglers directly
# Whether an emptied primary (and its replicas) turns replica of the node that took its
# last slot (Redis 6.2+, default yes). Set to "no" at run time on every member unless the
# stack file's config sets it (then redis.conf has it): a drained primary stays an empty
# primary (checked with DBSIZE before it retires), and replicas stay where placement put
# them (the valkey-operator's base config does the same). At run time, not in redis.conf:
# a new directive there would roll every live stack.
REPLICA_MIGRATION = "cluster-allow-replica-migration"


# ---------------------------------------------------------------- reading


async def _read_views(
    members: Sequence[ClusterMember],
    nodes: Mapping[str, RedisNode],
    limiter: anyio.CapacityLimiter,
) -> dict[str, NodeFacts]:
    async def read(member: ClusterMember) -> NodeFacts:
        return await read_facts(nodes[member.name], member.name, cluster=True)

    views = await fan_out(members, read, limiter=limiter, what="cannot read cluster state")
    return {v.name: v for v in views}


async def read_cluster_state(
    members: Sequence[ClusterMember],
    access: RedisAccess,
    *,
    limiter: anyio.CapacityLimiter | None = None,
    ready_timeout: float = 30.0,
) -> ClusterState:
    """Connect to every member concurrently, read its view, and classify the cluster."""
    limiter = bounded(limiter)
    async with connect_all(members, access, limiter=limiter, ready_timeout=ready_timeout) as nodes:
        views = await _read_views(members, nodes, limiter)
    return classify(members, views)


# ---------------------------------------------------------------- acting


def _config_epochs(
    members: Sequence[ClusterMember], views: Mapping[str, NodeFacts]
) -> list[Action]:
    """Distinct config epochs for the primaries of a fresh cluster (no epoch collisions).

    A primary that has one already keeps it: a run killed between SET-CONFIG-EPOCH and
    MEET leaves every node alone (fresh) with some epochs set, and Redis refuses to set
    one twice ("Node config epoch is already non-zero")."""
    primaries = [m for m in members if m.role == "primary"]
    used = {views[m.name].me.config_epoch for m in primaries} - {0}
    free = (n for n in count(1) if n not in used)
    return [
        Action(m.name, ("CLUSTER", "SET-CONFIG-EPOCH", str(next(free))), "fresh cluster")
        for m in primaries
        if views[m.name].me.config_epoch == 0
    ]


@dataclass
class _ClusterRun:
    """One bootstrap: the members, their connections, and the report being written."""

    members: Sequence[ClusterMember]
    nodes: Mapping[str, RedisNode]
    limiter: anyio.CapacityLimiter
    wait_timeout: float
    configured: Timing | None = None  # None: leave the nodes' timing alone
    report: BootstrapReport = field(default_factory=lambda: BootstrapReport("cluster"))
    fresh: bool = False
    progress: Reporter = silent
    replica_migration: str | None = None  # REPLICA_MIGRATION to set (None: leave alone)

    async def read(self) -> dict[str, NodeFacts]:
        return await _read_views(self.members, self.nodes, self.limiter)

    async def act(self, actions: Sequence[Action]) -> None:
        """Run actions: one node's in order, different nodes concurrently."""
        by_node: dict[str, list[Action]] = {}
        for action in actions:
            by_node.setdefault(action.node, []).append(action)

        async def run(node_actions: list[Action]) -> None:
            for action in node_actions:
                await self.nodes[action.node].execute(*action.args)
                self.report.actions.append(action)

        await fan_out(
            list(by_node.values()), run, limiter=self.limiter, what="bootstrap commands failed"
        )

    async def meet(self) -> None:
        """Refuse a foreign cluster; then (fresh: the forming window, epochs and) MEETs,
        and wait for gossip."""
        views = await self.read()
        self.members = still_known(self.members, views)
        state = classify(self.members, views)
        if state.condition is Condition.CONFLICTING:
            raise RedisError(
                "refusing to bootstrap: " + "; ".join(state.problems),
                hint="these nodes belong to another cluster; nothing was changed",
            )
        self.fresh = state.condition is Condition.FRESH
        self.report.fresh = self.fresh
        if self.fresh and self.configured is not None:
            # before MEET: at node timeout 500 a node pings every peer it has not heard
            # from for 250 ms, so the handshakes and the gossip go round in a few
            # hundred ms instead of the seconds of the random one-ping-a-second
            await self.retime(FORMING, "a fresh cluster forms: no 5 s rejoin or sync delay")
        if self.fresh:
            await self.act(_config_epochs(self.members, state.views))
        await self.act(plan_meets(self.members, state.views))
        nudged = anyio.current_time()

        async def gossip() -> list[str]:
            nonlocal nudged
            views = await self.read()
            pending = gossip_pending(self.members, views)
            if pending and anyio.current_time() - nudged > GOSSIP_PATIENCE:
                await self.act(plan_meets(self.members, views, direct=True))
                nudged = anyio.current_time()
            return pending

        await wait_until(gossip, within=self.wait_timeout, what="cluster nodes meeting")

    async def settings(self) -> dict[str, dict[str, str]]:
        """Each member's timing settings (``cluster.timing.SETTINGS``)."""

        async def one(member: ClusterMember) -> dict[str, str]:
            return await self.nodes[member.name].read(parse_pairs, "CONFIG", "GET", *SETTINGS)

        current = await fan_out(self.members, one, limiter=self.limiter)
        return {m.name: s for m, s in zip(self.members, current, strict=True)}

    async def retime(self, timing: Timing, reason: str, only: Sequence[str] = SETTINGS) -> None:
        """Set ``timing`` (its settings in ``only``) on every member where it differs
        (read first: no needless write)."""
        actions = retime_actions(await self.settings(), timing, reason)
        await self.act([a for a in actions if a.args[2] in only])

    async def failover_off(self) -> bool:
        """Whether a killed run left the forming window open (failover off) somewhere."""
        current = (await self.settings()).values()
        return any(s.get(NO_FAILOVER) == FORMING.no_failover for s in current)

    def done(self, phase: str, detail: str) -> None:
        """Report a phase as it completes (``deploy --json``: one line each, flushed)."""
        self.progress(Event("bootstrap", phase, "done", detail))

    async def assign(self) -> None:
        """Slots nobody serves to their shard, then replicas to their shard's primary."""
        slot_actions, lost = plan_slots(self.members, await self.read())
        await self.act(slot_actions)
        replica_actions, notes = plan_replicas(self.members, await self.read())
        await self.act(replica_actions)
        self.report.notes.extend(notes)
        if lost:
            done = "; ".join(str(a) for a in self.report.actions) or "nothing"
            raise RedisError(
                "cluster cannot be completed: " + "; ".join(lost), hint=f"done so far: {done}"
            )

    async def wait_whole(self) -> None:
        """Wait for state ok, full coverage, agreement and replica links."""

        async def whole() -> list[str]:
            return final_pending(self.members, await self.read())

        await wait_until(whole, within=self.wait_timeout, what="cluster state ok")

    async def forget_ghosts(self) -> None:
        """Forget old ids of replaced nodes on every member, within one run: Redis
        re-learns a forgotten id from any node still knowing it after its 60 s ban."""
        await self.act(plan_forget(self.members, await self.read()))

    async def form(self) -> None:
        """Every phase, reported as it completes: meet, slots, whole; then the timing."""
        report, configured = self.report, self.configured
        with report.timed("meet"):
            await self.meet()
        self.done("meet", f"{len(self.members)} nodes know each other" + " (fresh)" * self.fresh)
        # see cluster.timing; a window a killed run left open is closed in order too
        left_open = configured is not None and not self.fresh and await self.failover_off()
        closing = self.fresh or left_open
        with report.timed("assign"):
            await self.assign()
        self.done("slots", "every planned slot assigned, every replica set")
        with report.timed("whole"):
            await self.wait_whole()
        self.done("whole", "cluster_state ok on every node, all agree")
        with report.timed("window"):
            if configured is not None and closing:  # the node timeout back everywhere first
                reason = "formed: node timeout as configured"
                await self.retime(configured, reason, only=(NODE_TIMEOUT,))
        with report.timed("forget"):
            await self.forget_ghosts()
        with report.timed("window"):
            if configured is not None:
                await self.retime(configured, "as configured")
        with report.timed("rebalance"):
            await self.pin_replica_migration()
            await self.rebalance()

    async def pin_replica_migration(self) -> None:
        """``REPLICA_MIGRATION`` as wanted on every member where it differs (read first)."""
        wanted = self.replica_migration
        if wanted is None:
            return

        async def one(member: ClusterMember) -> str:
            found = await self.nodes[member.name].read(
                parse_pairs, "CONFIG", "GET", REPLICA_MIGRATION
            )
            return found.get(REPLICA_MIGRATION, "")

        found = await fan_out(self.members, one, limiter=self.limiter)
        args = ("CONFIG", "SET", REPLICA_MIGRATION, wanted)
        reason = "slot moves keep an emptied primary and every replica where they are"
        await self.act(
            [
                Action(m.name, args, reason)
                for m, v in zip(self.members, found, strict=True)
                if v != wanted
            ]
        )

    async def rebalance(self) -> None:
        """Even slots over the shards (``cluster.reshard``): a new shard's come to it, and
        moves a killed run left open end. Only on a whole cluster, with its configured
        timing; then wait for it to be whole again (every node agreeing on the owners)."""
        timeout = int((self.configured or configured_timing({})).node_timeout_ms)
        moved = await rebalance(
            self.members,
            self.nodes,
            self.read,
            self.report,
            node_timeout_ms=timeout,
            progress=self.progress,
        )
        if moved:
            await self.wait_whole()
            self.done("rebalance", f"{moved} slots moved: every shard serves an even share")


async def bootstrap_cluster(
    members: Sequence[ClusterMember],
    access: RedisAccess,
    *,
    wait_timeout: float = 120.0,
    ready_timeout: float = 60.0,
    limiter: anyio.CapacityLimiter | None = None,
    configured: Timing | None = None,
    current_members: Callable[[], Awaitable[Sequence[ClusterMember]]] | None = None,
    progress: Reporter = silent,
    replica_migration: str | None = None,
) -> BootstrapReport:
    """Bring the cluster to its plan: create it if fresh, else add only what is missing.

    ``current_members`` reads the members again once every node answers: where a task
    was replaced after converge, its overlay address (what peers MEET) changed.
    ``progress`` hears of each phase as it completes (meet, slots, whole).
    ``replica_migration``: the value of ``REPLICA_MIGRATION`` every member gets before
    slots move (None: left alone).

    With ``configured``, a fresh cluster forms fast (``cluster.timing``) and every node
    ends with that timing; without, the nodes' settings are left alone.

    Raises RedisError for a conflicting cluster (touching nothing), DeployTimeout if a wait
    runs out, RedisUnreachable/RedisError (grouped) for nodes that fail. Each wait is
    bounded by ``wait_timeout``; connecting by ``ready_timeout``.
    """
    validate_members(members)
    limiter = bounded(limiter)
    report, start = BootstrapReport("cluster"), time.monotonic()
    async with connect_all(members, access, limiter=limiter, ready_timeout=ready_timeout) as nodes:
        report.since("connect", start)
        if current_members is not None:  # every node answers: no task is still failing
            members = await current_members()
            validate_members(members)
        run = _ClusterRun(members, nodes, limiter, wait_timeout, configured, report)
        run.progress = progress
        run.replica_migration = replica_migration
        try:
            await run.form()
        except BaseException:
            if configured is not None and run.fresh:
                await _restore(run, configured)
            raise
    return run.report


async def _restore(run: _ClusterRun, configured: Timing) -> None:
    """Best effort after a failed fresh bootstrap: the configured timing back on every
    node. If that fails too, the error already raised is the one to report, and the next
    bootstrap sets it back (it always ends with ``retime(configured)``)."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        try:
            await run.retime(configured.closing(), "after a failed bootstrap")
            await run.retime(configured, "as configured (after a failed bootstrap)")
        except* SwarmRedisError:
            pass  # unreachable or refused: the next bootstrap sets it back
