"""Even slots over the shards: the last phase of a cluster bootstrap, and all of a scale-out.

A new shard joins empty (MEET, its replicas follow its primary); then the fewest slots
that leave every shard 16384/N within one (``moves.rebalance_moves``) move to it, one at
a time with the classic protocol (``migrate.move_slot``), each source's moves in turn.
A cluster whose slots are even already moves nothing and sends nothing here.

The source's MIGRATE logs in to the target as ``migration`` (``acl.MIGRATION_USER``: SELECT
and RESTORE-ASKING on any key, nothing else), a user that exists only for the moves: it
is set with a fresh random password on every target before the first move (``ACL
SETUSER ... reset``, in memory only: no ACL file or secret changes) and deleted after the
last, also when a move fails. A target restarted mid-move comes back without it: its
MIGRATE is refused, the move stops with the slot open, and the next run sets the user
again and finishes it.

MIGRATE's I/O timeout is a third of ``cluster-node-timeout``, at most 5 s: a move that
stalls the source never stalls it long enough for its replica to fail over.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence

import anyio

from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.engine.modes.base import Action, BootstrapReport
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.migrate import MoveEnds, move_slot
from swarmredis.engine.modes.cluster.moves import rebalance_moves, serving_primaries
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import Credentials, RedisNode
from swarmredis.pki import acl
from swarmredis.plan.slots import SlotMove, SlotPlanError, format_ranges

SLOT_LIMIT_S = 30.0  # one slot's whole move, however many keys it holds
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

    def step(self, keys: int, *, last: bool = False) -> None:
        self.slots, self.keys = self.slots + 1, self.keys + keys
        now = time.monotonic()
        if not last and now - self.told < PROGRESS_EVERY_S:
            return
        self.told = now
        rate = round(self.rate(), 1)
        data = {"slots": self.slots, "total": self.total, "keys": self.keys, "keys_per_s": rate}
        detail = f"{self.slots}/{self.total} slots, {self.keys} keys, {rate} keys/s"
        self.tell(Event("bootstrap", "slots", "info", detail, data))


async def rebalance(
    members: Sequence[ClusterMember],
    nodes: Mapping[str, RedisNode],
    views: Mapping[str, NodeFacts],
    report: BootstrapReport,
    *,
    node_timeout_ms: int,
    progress: Reporter = silent,
) -> int:
    """Move slots until they are even over the shards; the number of slots moved.

    ``views`` are the members' facts read once the cluster is whole. Raises MoveError
    (the slot stays open; a re-run finishes it) or RedisError."""
    try:
        moves = rebalance_moves(members, views)
    except SlotPlanError as error:
        raise RedisError(f"cannot plan slot moves: {error}") from None
    if not moves:
        return 0
    ids = {m.name: views[m.name].node_id for m in members}
    by_name = {m.name: m for m in members}
    serving = serving_primaries(members, views)
    targets = sorted({move.target for move in moves})
    user = Credentials(acl.MIGRATION, secrets.token_urlsafe(24))
    counter = _Progress(sum(move.count for move in moves), progress)
    timeout = migrate_timeout_ms(node_timeout_ms)
    try:
        for name in targets:
            rules = (*acl.MIGRATION_USER.rules().split(), f">{user.password}")
            await nodes[name].execute("ACL", "SETUSER", user.username, "reset", *rules)
        for move in moves:
            target = by_name[move.target]
            ends = MoveEnds(
                source=nodes[move.source],
                source_id=ids[move.source],
                target=nodes[move.target],
                target_id=ids[move.target],
                target_host=target.meet_ip,
                target_port=target.meet_port,
                migrate_as=user,
                others=[nodes[n] for n in serving if n not in (move.source, move.target)],
            )
            keys = await _move(ends, move, counter, timeout)
            report.actions.append(_done(move, keys))
    finally:
        await _drop_user(nodes, targets)
    return counter.slots


async def _move(ends: MoveEnds, move: SlotMove, counter: _Progress, timeout_ms: int) -> int:
    """Every slot of ``move``, in order; the keys moved."""
    slots, keys = list(move.slots), 0
    for i, slot in enumerate(slots):
        with anyio.fail_after(SLOT_LIMIT_S):
            moved = await move_slot(ends, slot, migrate_timeout_ms=timeout_ms)
        keys += moved
        counter.step(moved, last=i == len(slots) - 1)
    return keys


def _done(move: SlotMove, keys: int) -> Action:
    """The report's line for a whole move (one line, not one per slot and command)."""
    args = ("move", "slots", format_ranges(move.ranges), "to", move.target)
    return Action(move.source, args, f"{move.count} slots, {keys} keys: even shards")


async def _drop_user(nodes: Mapping[str, RedisNode], targets: Sequence[str]) -> None:
    """Delete the migration user wherever it was set; bounded, and quiet: a target that
    is down lost it anyway (it lives in memory only)."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        for name in targets:
            try:
                await nodes[name].execute("ACL", "DELUSER", acl.MIGRATION)
            except RedisError:
                continue
