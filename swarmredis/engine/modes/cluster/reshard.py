"""Even slots over the shards: the last phase of a cluster bootstrap, and all of a scale-out.

A new shard joins empty (MEET, its replicas follow its primary); then the fewest slots
that leave every shard 16384/N within one (``moves.rebalance_moves``) move to it, one at
a batch of slots at a time with the classic protocol (``migrate.move_batch``), each
source's moves in turn.
First, a move a killed run left open (``moves.open_moves``: a slot importing or migrating
somewhere) is finished from the slot's owner, or, where the target owns it already, by
the last ``SETSLOT NODE`` steps: a slot the new plan would not move again would keep its
marker otherwise. A cluster whose slots are even and closed moves nothing and sends
nothing here.

The source's MIGRATE logs in to the target as ``migration`` (``acl.MIGRATION_USER``: SELECT
and RESTORE-ASKING on any key, nothing else), a user that exists only for the moves: it
is set with a fresh random password on every serving primary before the first move (``ACL
SETUSER ... reset``, in memory only: no ACL file or secret changes) and deleted after the
last, also when a move fails. A target restarted mid-move comes back without it: its
MIGRATE is refused, the move stops with the slot open, and the next run sets the user
again and finishes it.

MIGRATE's I/O timeout is a third of ``cluster-node-timeout``, at most 5 s: a move that
stalls the source never stalls it long enough for its replica to fail over.

Where every primary has Valkey 9's ``CLUSTER MIGRATESLOTS``, each planned move is one
atomic migration job instead (``atomic.py``), with the rights the job needs for the
moves only in place of the ``migration`` user.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

import anyio

from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.engine.modes.base import Action, BootstrapReport
from swarmredis.engine.modes.cluster import atomic
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.migrate import SLOTS_PER_BATCH, MoveEnds, move_batch, move_slot
from swarmredis.engine.modes.cluster.moves import (
    OpenMove,
    open_moves,
    rebalance_moves,
    serving_primaries,
)
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import Credentials, RedisNode
from swarmredis.pki import acl
from swarmredis.plan.slots import SlotMove, SlotPlanError, format_ranges

BATCH_LIMIT_S = 60.0  # one batch's whole move, however many keys its slots hold
MIGRATE_TIMEOUT_MAX_MS = 5000
PROGRESS_EVERY_S = 1.0


def migrate_timeout_ms(node_timeout_ms: int) -> int:
    """MIGRATE's timeout: well below the node timeout (a third), at most 5 s."""
    return max(100, min(MIGRATE_TIMEOUT_MAX_MS, node_timeout_ms // 3))


class _Progress:
    """Slots moved of the total and keys per second, told at most once a second."""

    def __init__(self, total: int, tell: Reporter) -> None:
        self.total, self.tell = total, tell
        self.slots = self.keys = 0
        self.start = self.told = time.monotonic()

    def rate(self) -> float:
        return self.keys / max(time.monotonic() - self.start, 1e-6)

    def step(self, keys: int, slots: int = 1, *, last: bool = False) -> None:
        self.slots, self.keys = self.slots + slots, self.keys + keys
        now = time.monotonic()
        if not last and now - self.told < PROGRESS_EVERY_S:
            return
        self.told = now
        rate = round(self.rate(), 1)
        data = {"slots": self.slots, "total": self.total, "keys": self.keys, "keys_per_s": rate}
        detail = f"{self.slots}/{self.total} slots, {self.keys} keys, {rate} keys/s"
        self.tell(Event("bootstrap", "slots", "info", detail, data))


class _Mover:
    """The moves of one rebalance: who is who, the migration user, the progress."""

    def __init__(
        self,
        members: Sequence[ClusterMember],
        nodes: Mapping[str, RedisNode],
        views: Mapping[str, NodeFacts],
        counter: _Progress,
        timeout_ms: int,
    ) -> None:
        self.nodes, self.counter, self.timeout_ms = nodes, counter, timeout_ms
        self.by_name = {m.name: m for m in members}
        self.ids = {m.name: views[m.name].node_id for m in members}
        self.names = {node_id: name for name, node_id in self.ids.items()}
        self.serving = serving_primaries(members, views)
        self.primaries = [m.name for m in members if views[m.name].me.is_primary]
        self.user = Credentials(acl.MIGRATION, secrets.token_urlsafe(24))
        self.atomic = False  # moves as Valkey 9 jobs (atomic.py), not the classic protocol

    async def choose(self) -> None:
        """Atomic moves when every serving primary has them; then a job a killed run
        left running is waited for (the caller plans again afterwards)."""
        serving = {name: self.nodes[name] for name in self.serving}
        self.atomic = await atomic.supports_atomic(self.nodes[n] for n in self.primaries)
        if self.atomic:  # a job a killed run started runs with the rights it left wide
            await atomic.wait_running(serving)
            await atomic.narrow(serving.values())

    def ends(self, source: str, target: str) -> MoveEnds:
        member = self.by_name[target]
        return MoveEnds(
            source=self.nodes[source],
            source_id=self.ids[source],
            target=self.nodes[target],
            target_id=self.ids[target],
            target_host=member.meet_ip,
            target_port=member.meet_port,
            migrate_as=self.user,
            others=[self.nodes[n] for n in self.serving if n not in (source, target)],
        )

    async def grant(self) -> None:
        """The migration user on every primary that may receive slots (atomic: the
        rights a target runs a job's stream with, for ``replication``)."""
        if self.atomic:
            await atomic.widen(self.nodes[name] for name in self.serving)
            return
        rules = (*acl.MIGRATION_USER.rules().split(), f">{self.user.password}")
        for name in self.serving:
            await self.nodes[name].execute("ACL", "SETUSER", self.user.username, "reset", *rules)

    async def revoke(self) -> None:
        """Delete it again; bounded, and quiet: a node that is down lost it anyway (it
        lives in memory only). Atomic: ``replication``'s planned rules back."""
        if self.atomic:
            await atomic.narrow(self.nodes[name] for name in self.serving)
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            for name in self.serving:
                try:
                    await self.nodes[name].execute("ACL", "DELUSER", acl.MIGRATION)
                except RedisError:
                    continue

    def ends_of(self, opened: OpenMove) -> tuple[str, str] | None:
        """(source, target) names to finish an open move with, None if a side is not a
        member (a marker naming a node the cluster no longer has: left to the operator)."""
        target = self.names.get(opened.target or "")
        if opened.owner != opened.target:
            source = self.names.get(opened.owner)
        else:  # the target owns it: the migrating side still has its marker
            source = next(
                (self.names[m] for m in opened.marked if m != opened.target and m in self.names),
                None,
            )
        return (source, target) if source and target else None

    async def finish(self, opened: Sequence[OpenMove], report: BootstrapReport) -> None:
        """End the moves a killed run left open, each from the slot's owner."""
        for move in opened:
            if (pair := self.ends_of(move)) is None:
                continue
            with anyio.fail_after(BATCH_LIMIT_S):
                keys = await move_slot(
                    self.ends(*pair), move.slot, migrate_timeout_ms=self.timeout_ms
                )
            self.counter.step(keys, last=True)
            reason = f"slot {move.slot} left open by an interrupted run, {keys} keys"
            report.actions.append(
                Action(pair[0], ("move", "slot", str(move.slot), "to", pair[1]), reason)
            )

    async def run(self, move: SlotMove, report: BootstrapReport) -> None:
        if self.atomic:
            keys = await atomic.move_atomically(
                self.nodes[move.source], self.ids[move.target], move
            )
            self.counter.step(keys, move.count, last=True)
            report.actions.append(_done(move, keys, "atomic: "))
            return
        keys = await _move(self.ends(move.source, move.target), move, self.counter, self.timeout_ms)
        report.actions.append(_done(move, keys))


async def rebalance(
    members: Sequence[ClusterMember],
    nodes: Mapping[str, RedisNode],
    read: Callable[[], Awaitable[Mapping[str, NodeFacts]]],
    report: BootstrapReport,
    *,
    node_timeout_ms: int,
    progress: Reporter = silent,
) -> int:
    """Finish the moves a killed run left open, then move slots until the shares are even;
    the number of slots moved.

    ``read`` gives the members' facts (called on a whole cluster, then again after
    finishing open moves). Raises MoveError (the slot stays open; a re-run finishes it)
    or RedisError."""
    views = await read()
    tables = {views[m.name].node_id: views[m.name].cluster_nodes for m in members}
    opened = [m for m in open_moves(tables) if m.finish]
    moves = _planned(members, views)
    if not opened and not moves:
        return 0
    counter = _Progress(len(opened) + sum(move.count for move in moves), progress)
    mover = _Mover(members, nodes, views, counter, migrate_timeout_ms(node_timeout_ms))
    await mover.choose()
    if mover.atomic:  # a job that ended meanwhile changed what is left to move
        moves = _planned(members, await read())
        counter.total = len(opened) + sum(move.count for move in moves)
    try:
        await mover.grant()
        if opened:
            await mover.finish(opened, report)
            moves = _planned(members, await read())
            counter.total = counter.slots + sum(move.count for move in moves)
        for move in moves:
            await mover.run(move, report)
    finally:
        await mover.revoke()
    return counter.slots


def _planned(members: Sequence[ClusterMember], views: Mapping[str, NodeFacts]) -> list[SlotMove]:
    try:
        return rebalance_moves(members, views)
    except SlotPlanError as error:
        raise RedisError(f"cannot plan slot moves: {error}") from None


async def _move(ends: MoveEnds, move: SlotMove, counter: _Progress, timeout_ms: int) -> int:
    """Every slot of ``move``, in batches in order; the keys moved."""
    slots, keys = list(move.slots), 0
    for start in range(0, len(slots), SLOTS_PER_BATCH):
        batch = slots[start : start + SLOTS_PER_BATCH]
        with anyio.fail_after(BATCH_LIMIT_S):
            moved = await move_batch(ends, batch, migrate_timeout_ms=timeout_ms)
        keys += moved
        counter.step(moved, len(batch), last=start + SLOTS_PER_BATCH >= len(slots))
    return keys


def _done(move: SlotMove, keys: int, how: str = "") -> Action:
    """The report's line for a whole move (one line, not one per slot and command)."""
    args = ("move", "slots", format_ranges(move.ranges), "to", move.target)
    return Action(move.source, args, f"{how}{move.count} slots, {keys} keys: even shards")
