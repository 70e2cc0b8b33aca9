"""Replication mode: move the primary role to a chosen replica through Sentinel, losing nothing.

``SENTINEL FAILOVER`` alone is a forced failover: Sentinel picks a replica by priority and
offset and promotes it at once, and writes the old primary acknowledged meanwhile are lost
when it is turned into a replica. Redis's own coordinated ``FAILOVER`` does not work under
Sentinel (Sentinel sees its primary turn replica and fails over again). So the engine
coordinates it:

1. the other replicas get ``replica-priority 0``, and the engine waits until the Sentinel
   that will run the failover has seen that (it reads replicas' INFO every 10 s, every
   second while the engine waits: ``refresh.py``): only the target can be chosen;
2. the primary pauses writes (``CLIENT PAUSE ... WRITE``) and the target catches up with
   its replication offset, so it has every acknowledged write;
3. ``SENTINEL FAILOVER``; the engine waits until the target is primary and Sentinel names
   it, then points the old primary at it (``REPLICAOF`` the address Sentinel gives, as
   Sentinel itself would some seconds later). Sentinel may abandon a forced failover
   (``-failover-abort-*``: the promoted replica did not report itself primary within the
   failover timeout); the engine then repeats steps 2 and 3, up to three times;
4. always, even on failure: priorities back at the planned value, the old primary
   unpaused (a replica by then, so a paused write gets ``READONLY``; a client retries on
   the new primary). A run killed before that leaves replicas at priority 0: the next
   bootstrap sets them back (``bootstrap.restore_priorities``).

``before_restart`` uses it when a batch of a rolling update would restart the primary,
``restore_primary`` to give the planned primary its role back after a failover.

Clients that write during the handover wait (paused) for a second or two, then are told to
go elsewhere; none gets an acknowledgement for a write that is then lost.

While the old primary is paused, a Sentinel's PINGs queue behind its own paused PUBLISH
(CLIENT PAUSE WRITE holds commands that may replicate): a failover that stalls past
``down-after-milliseconds`` makes every Sentinel see the primary down, and another one may
run its own failover. It can only pick the target (every other replica is at priority
0), so the outcome is the same; the engine waits for it as for its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio

from swarmredis.constants import HANDOVER_TIMEOUT_S
from swarmredis.engine.context import RunContext
from swarmredis.engine.events import Event
from swarmredis.engine.modes.base import Action, Handover
from swarmredis.engine.modes.replication.bootstrap import read_data
from swarmredis.engine.modes.replication.plan import (
    ReplicationSet,
    choose_target,
    failover_abandoned,
    linked_replicas,
    sentinel_pending,
)
from swarmredis.engine.modes.replication.refresh import quick_views
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.nodes import bounded, connect_all, raise_collected, wait_until
from swarmredis.engine.redis.replies import (
    parse_pair_list,
    parse_role,
    parse_sentinel_master,
)
from swarmredis.errors import RedisError, RedisUnreachable, SwarmRedisError
from swarmredis.gateway.redis import RedisAccess, RedisNode, Reply

FAILOVER_ATTEMPTS = 3
# beyond Sentinel's failover timeout: it notices a promotion from INFO, read every second
# during a failover, and abandons a failover only once that timeout has passed
PROMOTION_MARGIN = 15.0


async def before_restart(
    run: RunContext, rs: ReplicationSet, restarting: Sequence[str]
) -> list[Handover]:
    """If the primary is about to restart, hand its role to a linked replica outside the
    batch first (none: it restarts as primary, and Sentinel fails over if it must)."""
    views = await current_views(rs, run.access, limiter=run.limiter)
    primary, _ = linked_replicas(views)
    if primary is None or primary.name not in restarting:
        return []
    target = choose_target(views, avoid=restarting, prefer=[m.name for m in rs.data])
    if target is None:
        message = "no linked replica outside this batch: restarted as primary"
        run.report(Event("rolling", primary.name, "info", message))
        return []
    message = f"hand the primary role to {target} before the restart"
    run.report(Event("rolling", primary.name, "start", message))
    await hand_over(rs, run.access, target, limiter=run.limiter)
    run.report(Event("rolling", primary.name, "done", f"{target} is primary now"))
    return [(primary.name, target)]


async def restore_primary(run: RunContext, rs: ReplicationSet) -> list[Action]:
    """Make the planned primary primary again if it is a linked replica now (coordinated
    through Sentinel, no acknowledged write lost); report and leave it if that fails."""
    primary, linked = linked_replicas(await current_views(rs, run.access, limiter=run.limiter))
    planned = rs.planned_primary
    if primary is None or primary.name == planned or planned not in linked:
        return []
    try:
        await hand_over(rs, run.access, planned, limiter=run.limiter)
    except SwarmRedisError as error:  # unreachable, refused, or too slow
        run.report(Event("roles", planned, "info", f"left as a replica: {error.message}"))
        return []
    run.report(Event("roles", planned, "done", f"primary again (was {primary.name})"))
    reason = "planned primary takes the primary role back"
    return [Action(planned, ("SENTINEL", "FAILOVER", rs.master_name), reason)]


async def current_views(
    rs: ReplicationSet, access: RedisAccess, *, limiter: anyio.CapacityLimiter | None = None
) -> list[NodeFacts]:
    """The facts of every data node, read concurrently."""
    limiter = bounded(limiter)
    async with connect_all(rs.data, access, limiter=limiter) as nodes:
        return await read_data(rs.data, nodes, limiter)


async def hand_over(
    rs: ReplicationSet,
    access: RedisAccess,
    target: str,
    *,
    step_timeout: float = HANDOVER_TIMEOUT_S,
    limiter: anyio.CapacityLimiter | None = None,
) -> str:
    """Make ``target`` (a linked replica) the primary; return the old primary's name.

    Raises RedisError (nothing changed) if ``target`` is not a linked replica of the one
    primary, DeployTimeout if a step does not complete within ``step_timeout``.
    """
    limiter = bounded(limiter)
    async with (
        connect_all(rs.data, access, limiter=limiter) as nodes,
        _any_sentinel(rs, access) as sentinel,
    ):
        views = await read_data(rs.data, nodes, limiter)
        primary, linked = linked_replicas(views)
        if primary is None or target not in linked:
            raise RedisError(
                f"{target}: not a linked replica of the one primary",
                hint="nothing was changed; see `swarmredis status`",
            )
        others = [v.name for v in views if v.name not in (primary.name, target)]
        run = _Handover(
            rs,
            nodes,
            sentinel,
            primary.name,
            target,
            others,
            {v.name: v.run_id for v in views},
            step_timeout,
        )
        await run.execute()
        return primary.name


@asynccontextmanager
async def _any_sentinel(rs: ReplicationSet, access: RedisAccess) -> AsyncIterator[RedisNode]:
    """The first Sentinel that answers (any one can run a forced failover)."""
    errors: list[SwarmRedisError] = []
    async with AsyncExitStack() as stack:
        for member in rs.sentinels:
            try:
                node = await stack.enter_async_context(
                    access.connect(member.name, member.endpoint, server_name=member.server_name)
                )
                await node.ping()
            except RedisUnreachable as error:
                errors.append(error)
                continue
            yield node
            return
        raise_collected(errors, "no sentinel answers")
        raise RedisError(f"{rs.master_name}: the stack has no sentinels")


@dataclass
class _Handover:
    rs: ReplicationSet
    nodes: dict[str, RedisNode]
    sentinel: RedisNode
    old: str
    target: str
    others: list[str]
    run_ids: dict[str, str]
    timeout: float

    async def execute(self) -> None:
        async with quick_views([self.sentinel]):
            await self._execute()

    async def _execute(self) -> None:
        try:
            for name in self.others:
                await _resent(self.nodes[name], "CONFIG", "SET", "replica-priority", "0")
            await wait_until(
                self._sentinel_ready,
                within=self.timeout,
                what=f"sentinel sees only {self.target} as a candidate",
            )
            for _ in range(FAILOVER_ATTEMPTS):
                await self._pause_and_catch_up()
                await wait_until(
                    self._failover,
                    within=self.timeout,
                    what=f"sentinel accepting the failover to {self.target}",
                )
                address = await self._outcome()
                if address is not None:
                    await _resent(self.nodes[self.old], "REPLICAOF", *address)
                    return
            raise RedisError(
                f"{self.rs.master_name}: Sentinel abandoned the failover to {self.target}"
                f" {FAILOVER_ATTEMPTS} times",
                hint=f"{self.old} is still the primary; the Sentinels' logs say why"
                " (-failover-abort-*)",
            )
        finally:
            with anyio.CancelScope(shield=True):
                await self._restore()

    async def _pause_and_catch_up(self) -> None:
        """Writes on the old primary wait (paused for as long as this attempt may take:
        catch-up, Sentinel accepting, the failover; unpaused at the end in any case),
        and the target catches up with every write it acknowledged."""
        pause = 2 * self.timeout + self.rs.failover_timeout + PROMOTION_MARGIN
        old = self.nodes[self.old]
        await _resent(old, "CLIENT", "PAUSE", str(int(pause * 1000)), "WRITE")
        offset = old.decode("ROLE", parse_role, await _resent(old, "ROLE")).offset
        await wait_until(
            lambda: self._caught_up(offset),
            within=self.timeout,
            what=f"{self.target} catching up with {self.old}",
        )

    async def _sentinel_ready(self) -> list[str]:
        """The Sentinel's own (INFO-based, refreshed every 10 s) view must match: the
        others at priority 0, the target a healthy, linked replica it may promote."""
        master = self.rs.master_name
        entries = await self.sentinel.read(parse_pair_list, "SENTINEL", "REPLICAS", master)
        seen = {entry.get("runid"): entry for entry in entries}
        return sentinel_pending(seen, self.run_ids, self.target, self.others)

    async def _failover(self) -> list[str]:
        """SENTINEL FAILOVER; NOGOODSLAVE (its view lagging a moment) is retried."""
        try:
            await self.sentinel.execute("SENTINEL", "FAILOVER", self.rs.master_name)
        except RedisError as error:
            if error.code != "NOGOODSLAVE":
                raise
            return [error.message]
        return []

    async def _caught_up(self, offset: int) -> list[str]:
        have = (await self.nodes[self.target].read(parse_role, "ROLE")).offset
        return [] if have >= offset else [f"{self.target} at offset {have} of {offset}"]

    async def _outcome(self) -> tuple[str, str] | None:
        """Wait until the target is primary and Sentinel names it (return Sentinel's
        address for it), or until Sentinel abandons the failover (return None).

        Sentinel abandons a failover whose promoted replica does not report itself
        primary within the failover timeout, or that other Sentinels undo; a failover
        it still runs is waited for, so the wait outlasts that timeout."""
        address: list[str] = []  # stays empty when Sentinel abandons the failover

        async def decided() -> list[str]:
            role = await self.nodes[self.target].read(parse_role, "ROLE")
            master = await self.sentinel.read(
                parse_sentinel_master, "SENTINEL", "MASTER", self.rs.master_name
            )
            if role.kind != "primary":
                if failover_abandoned(master, self.run_ids[self.target]):
                    return []
                return [f"{self.target} is still a {role.kind}"]
            if master.get("runid") != self.run_ids[self.target]:
                return [f"sentinel does not name {self.target} yet"]
            address[:] = [master["ip"], master["port"]]
            return []

        await wait_until(
            decided,
            within=self.rs.failover_timeout + PROMOTION_MARGIN,
            what=f"SENTINEL FAILOVER to {self.target}",
        )
        return (address[0], address[1]) if address else None

    async def _restore(self) -> None:
        """Planned priorities back (not the ones found: a killed run may have left 0),
        old primary unpaused; best effort (a node may be gone)."""
        with anyio.move_on_after(10):
            for name in self.others:
                args = ("CONFIG", "SET", "replica-priority", self.rs.priority)
                await _best_effort(self.nodes[name], *args)
            await _best_effort(self.nodes[self.old], "CLIENT", "UNPAUSE")


async def _resent(node: RedisNode, *args: str, attempts: int = 2) -> Reply:
    """Run an idempotent command; each time the connection was lost, again on a new one
    (RedisNode dials again), up to ``attempts`` sends.

    Sentinel does ``CLIENT KILL TYPE normal`` on every node it reconfigures (the promoted
    replica, the other replicas, an old primary it turns into a replica), so our
    connection to a node can be gone at any step of a handover, the last step included:
    the engine's ``REPLICAOF`` races Sentinel's own on the old primary."""
    for _ in range(attempts - 1):
        try:
            return await node.execute(*args)
        except RedisUnreachable:
            continue
    return await node.execute(*args)


async def _best_effort(node: RedisNode, *args: str) -> None:
    """``_resent`` with three sends, giving up quietly (a node may be gone)."""
    try:
        await _resent(node, *args, attempts=3)
    except SwarmRedisError:
        return
