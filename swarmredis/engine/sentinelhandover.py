"""Replication mode: move the primary role to a chosen replica through Sentinel, losing nothing.

``SENTINEL FAILOVER`` alone is a forced failover: Sentinel picks a replica by priority and
offset and promotes it at once, and writes the old primary acknowledged meanwhile are lost
when it is turned into a replica. Redis's own coordinated ``FAILOVER`` does not work under
Sentinel (Sentinel sees its primary turn replica and fails over again). So the engine
coordinates it:

1. the other replicas get ``replica-priority 0``, and the engine waits until the Sentinel
   that will run the failover has seen that (it reads replicas' INFO every 10 s): only the
   target can be chosen;
2. the primary pauses writes (``CLIENT PAUSE ... WRITE``) and the target catches up with
   its replication offset, so it has every acknowledged write;
3. ``SENTINEL FAILOVER``; the engine waits until the target is primary and Sentinel names
   it, then points the old primary at it (``REPLICAOF`` the address Sentinel gives, as
   Sentinel itself would some seconds later). Sentinel may abandon a forced failover
   (``-failover-abort-*``: the promoted replica did not report itself primary within the
   failover timeout); the engine then repeats steps 2 and 3, up to three times;
4. always, even on failure: priorities restored, the old primary unpaused (a replica by
   then, so a paused write gets ``READONLY``; a client retries on the new primary).

Clients that write during the handover wait (paused) for a second or two, then are told to
go elsewhere; none gets an acknowledgement for a write that is then lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import anyio

from swarmredis.engine.bootstrap import DataView, RedisMember, linked_replicas, read_data
from swarmredis.engine.redisinfo import parse_pairs, parse_role
from swarmredis.engine.redisnodes import (
    DEFAULT_CONCURRENCY,
    connect_all,
    fan_out,
    poll_until,
    raise_collected,
)
from swarmredis.errors import RedisError, RedisUnreachable, SwarmRedisError
from swarmredis.gateway.redis import RedisAccess, RedisNode

HANDOVER_TIMEOUT = 60.0
FAILOVER_ATTEMPTS = 3
# beyond Sentinel's failover timeout: it notices a promotion from INFO, read every second
# during a failover, and abandons a failover only once that timeout has passed
PROMOTION_MARGIN = 15.0


@dataclass(frozen=True)
class ReplicationSet:
    """The data nodes (planned primary first) and Sentinels of one replication stack."""

    data: Sequence[RedisMember]
    sentinels: Sequence[RedisMember]
    master_name: str
    failover_timeout: float = 60.0  # sentinel failover-timeout, seconds

    @property
    def planned_primary(self) -> str:
        return self.data[0].name


def choose_target(
    views: Sequence[DataView], avoid: Collection[str], prefer: Sequence[str]
) -> str | None:
    """The linked replica to promote: the first of ``prefer`` not in ``avoid`` (pure)."""
    _, linked = linked_replicas(views)
    return next((name for name in prefer if name in linked and name not in avoid), None)


def sentinel_pending(
    seen: Mapping[str | None, Mapping[str, str]],
    run_ids: Mapping[str, str],
    target: str,
    others: Sequence[str],
) -> list[str]:
    """What keeps a Sentinel (``SENTINEL REPLICAS`` entries by run id) from choosing
    exactly ``target``: it must see the target as a plain, linked replica and every other
    replica at priority 0 (pure)."""
    pending = []
    entry = seen.get(run_ids[target], {})
    if (
        entry.get("flags") != "slave"
        or entry.get("master-link-status") != "ok"
        or entry.get("slave-priority") == "0"
    ):
        pending.append(
            f"sentinel sees {target} as {entry.get('flags', 'unknown')}, link"
            f" {entry.get('master-link-status', 'unknown')}"
        )
    for name in others:
        priority = seen.get(run_ids[name], {}).get("slave-priority")
        if priority != "0":
            pending.append(f"sentinel sees {name} with priority {priority}")
    return pending


def failover_abandoned(master: Mapping[str, str], target_run_id: str) -> bool:
    """Sentinel's ``SENTINEL MASTER`` entry shows a failover that ended without the target
    (``-failover-abort-*``: e.g. the promoted replica did not report itself primary
    within the failover timeout, or other Sentinels turned it back): still the old
    primary, and no failover in progress (pure)."""
    flags = set(master.get("flags", "").split(","))
    return master.get("runid") != target_run_id and "failover_in_progress" not in flags


async def current_views(
    rs: ReplicationSet, access: RedisAccess, concurrency: int = DEFAULT_CONCURRENCY
) -> list[DataView]:
    """ROLE and INFO of every data node, read concurrently."""
    limiter = anyio.CapacityLimiter(concurrency)
    async with connect_all(rs.data, access, limiter=limiter) as nodes:
        return await fan_out(rs.data, lambda m: read_data(m, nodes[m.name]), limiter=limiter)


async def hand_over(
    rs: ReplicationSet,
    access: RedisAccess,
    target: str,
    *,
    step_timeout: float = HANDOVER_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> str:
    """Make ``target`` (a linked replica) the primary; return the old primary's name.

    Raises RedisError (nothing changed) if ``target`` is not a linked replica of the one
    primary, DeployTimeout if a step does not complete within ``step_timeout``.
    """
    limiter = anyio.CapacityLimiter(concurrency)
    async with (
        connect_all(rs.data, access, limiter=limiter) as nodes,
        _any_sentinel(rs, access) as sentinel,
    ):
        views = await fan_out(rs.data, lambda m: read_data(m, nodes[m.name]), limiter=limiter)
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
        saved = {name: await self._priority(name) for name in self.others}
        try:
            for name in self.others:
                await self.nodes[name].execute("CONFIG", "SET", "replica-priority", "0")
            await poll_until(
                self._sentinel_ready,
                within=self.timeout,
                what=f"sentinel sees only {self.target} as a candidate",
            )
            for _ in range(FAILOVER_ATTEMPTS):
                await self._pause_and_catch_up()
                await poll_until(
                    self._failover,
                    within=self.timeout,
                    what=f"sentinel accepting the failover to {self.target}",
                )
                address = await self._outcome()
                if address is not None:
                    await self.nodes[self.old].execute("REPLICAOF", *address)
                    return
            raise RedisError(
                f"{self.rs.master_name}: Sentinel abandoned the failover to {self.target}"
                f" {FAILOVER_ATTEMPTS} times",
                hint=f"{self.old} is still the primary; the Sentinels' logs say why"
                " (-failover-abort-*)",
            )
        finally:
            with anyio.CancelScope(shield=True):
                await self._restore(saved)

    async def _pause_and_catch_up(self) -> None:
        """Writes on the old primary wait (paused for as long as this attempt may take:
        catch-up, Sentinel accepting, the failover; unpaused at the end in any case),
        and the target catches up with every write it acknowledged."""
        pause = 2 * self.timeout + self.rs.failover_timeout + PROMOTION_MARGIN
        await self.nodes[self.old].execute("CLIENT", "PAUSE", str(int(pause * 1000)), "WRITE")
        offset = parse_role(await self.nodes[self.old].role()).offset
        await poll_until(
            lambda: self._caught_up(offset),
            within=self.timeout,
            what=f"{self.target} catching up with {self.old}",
        )

    async def _priority(self, name: str) -> str:
        reply = await self.nodes[name].execute("CONFIG", "GET", "replica-priority")
        return parse_pairs(reply).get("replica-priority", "100")

    async def _sentinel_ready(self) -> list[str]:
        """The Sentinel's own (INFO-based, refreshed every 10 s) view must match: the
        others at priority 0, the target a healthy, linked replica it may promote."""
        reply = await self.sentinel.execute("SENTINEL", "REPLICAS", self.rs.master_name)
        entries = reply if isinstance(reply, list) else []
        seen = {entry.get("runid"): entry for entry in map(parse_pairs, entries)}
        return sentinel_pending(seen, self.run_ids, self.target, self.others)

    async def _failover(self) -> list[str]:
        """SENTINEL FAILOVER; NOGOODSLAVE (its view lagging a moment) is retried."""
        try:
            await self.sentinel.execute("SENTINEL", "FAILOVER", self.rs.master_name)
        except RedisError as error:
            if "NOGOODSLAVE" not in error.message:
                raise
            return [error.message]
        return []

    async def _caught_up(self, offset: int) -> list[str]:
        have = parse_role(await self.nodes[self.target].role()).offset
        return [] if have >= offset else [f"{self.target} at offset {have} of {offset}"]

    async def _outcome(self) -> tuple[str, str] | None:
        """Wait until the target is primary and Sentinel names it (return Sentinel's
        address for it), or until Sentinel abandons the failover (return None).

        Sentinel abandons a failover whose promoted replica does not report itself
        primary within the failover timeout, or that other Sentinels undo; a failover
        it still runs is waited for, so the wait outlasts that timeout."""
        address: list[str] = []  # stays empty when Sentinel abandons the failover

        async def decided() -> list[str]:
            role = parse_role(await self.nodes[self.target].role())
            master = parse_pairs(
                await self.sentinel.execute("SENTINEL", "MASTER", self.rs.master_name)
            )
            if role.kind != "primary":
                if failover_abandoned(master, self.run_ids[self.target]):
                    return []
                return [f"{self.target} is still a {role.kind}"]
            if master.get("runid") != self.run_ids[self.target]:
                return [f"sentinel does not name {self.target} yet"]
            address[:] = [master["ip"], master["port"]]
            return []

        await poll_until(
            decided,
            within=self.rs.failover_timeout + PROMOTION_MARGIN,
            what=f"SENTINEL FAILOVER to {self.target}",
        )
        return (address[0], address[1]) if address else None

    async def _restore(self, saved: dict[str, str]) -> None:
        """Priorities back, old primary unpaused; best effort (a node may be gone)."""
        with anyio.move_on_after(10):
            for name, priority in saved.items():
                await _best_effort(self.nodes[name], "CONFIG", "SET", "replica-priority", priority)
            await _best_effort(self.nodes[self.old], "CLIENT", "UNPAUSE")


async def _best_effort(node: RedisNode, *args: str, attempts: int = 3) -> None:
    """Run a command, dialling again if Sentinel killed our connection (it does
    ``CLIENT KILL TYPE normal`` on every node it reconfigures); give up quietly."""
    for _ in range(attempts):
        try:
            await node.execute(*args)
            return
        except RedisUnreachable:
            continue
        except SwarmRedisError:
            return
