"""Moving one slot between two cluster primaries with the classic protocol, losing nothing.

The order is ``redis-cli``'s (7.0+, ``clusterManagerMoveSlot``) and the one the Redis docs'
live-resharding section gives:

1. target ``CLUSTER SETSLOT s IMPORTING source``, then source ``SETSLOT s MIGRATING
   target`` (the target must accept ``ASKING`` before the source sends ``-ASK``);
2. ``GETKEYSINSLOT`` + ``MIGRATE host port "" 0 timeout AUTH2 user pass KEYS ...`` on the
   source until the slot is empty there. The first error stops the move, and a slot is
   never finalised after one (redis#2969): it stays open, for the next run to finish;
3. ``SETSLOT s NODE target`` on the target first (if another node were told first and the
   target crashed, the slot would have no owner: redis#7116), then on the source
   (``ERR Please use SETSLOT only with masters`` is the source that just gave its last
   slot away and turned replica: nothing left to tell it), then on every other primary
   (only to shorten the redirections; gossip tells them anyway).

``BUSYKEY``: a key that is on both sides (a MIGRATE whose reply was lost after the target
stored the key) is sent again with ``REPLACE`` only if both sides hold the same value
(``DUMP`` equal); otherwise the move stops and names the key. A move is idempotent: run
again on a slot left open by an interrupted run, it finishes it (from the start, or from
the ``SETSLOT NODE`` steps once the target owns the slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import anyio

from swarmredis.engine.redis.replies import parse_cluster_nodes
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import Credentials, RedisNode

KEYS_PER_MIGRATE = 10  # redis-cli's --cluster-pipeline default


@dataclass(frozen=True)
class MoveEnds:
    """The two primaries of a move and how the source's MIGRATE reaches the target."""

    source: RedisNode
    source_id: str
    target: RedisNode
    target_id: str
    target_host: str  # as the source dials it (its cluster address)
    target_port: int
    migrate_as: Credentials  # AUTH2 on the target
    others: Sequence[RedisNode] = ()  # the other primaries


class MoveError(RedisError):
    """A move stopped before its end; the slot stays open and a re-run finishes it."""


async def move_slot(
    ends: MoveEnds, slot: int, *, migrate_timeout_ms: int, keys_per_migrate: int = KEYS_PER_MIGRATE
) -> int:
    """Move ``slot`` from ``ends.source`` to ``ends.target``; the number of keys moved."""
    s = str(slot)
    if await _owns(ends.target, slot):  # step 3 reached (or no move at all): finish it
        await _finalise(ends, s, target_told=True)
        return 0
    await ends.target.execute("CLUSTER", "SETSLOT", s, "IMPORTING", ends.source_id)
    await ends.source.execute("CLUSTER", "SETSLOT", s, "MIGRATING", ends.target_id)
    moved = 0
    while True:
        keys = await ends.source.execute("CLUSTER", "GETKEYSINSLOT", s, str(keys_per_migrate))
        if not isinstance(keys, list):
            raise ends.source.unexpected("CLUSTER GETKEYSINSLOT", keys, "not a list of keys")
        if not keys:
            break
        names = [str(k) for k in keys]
        await _migrate(ends, slot, names, migrate_timeout_ms)
        moved += len(names)
    await _finalise(ends, s, target_told=False)
    return moved


async def _owns(node: RedisNode, slot: int) -> bool:
    """The node serves ``slot`` in its own view (its ``myself`` line)."""
    table = await node.read(parse_cluster_nodes, "CLUSTER", "NODES")  # garbage: a reply error
    me = next((n for n in table if n.myself), None)
    if me is None:
        raise node.unexpected("CLUSTER NODES", "", "no 'myself' line")
    return any(start <= slot <= end for start, end in me.slots)


async def _finalise(ends: MoveEnds, slot: str, *, target_told: bool) -> None:
    """SETSLOT NODE: the target first, then the source, then the other primaries."""
    if not target_told:
        await ends.target.execute("CLUSTER", "SETSLOT", slot, "NODE", ends.target_id)
    try:
        await ends.source.execute("CLUSTER", "SETSLOT", slot, "NODE", ends.target_id)
    except RedisError as error:
        if "only with masters" not in error.message:
            raise
    for other in ends.others:  # best effort: gossip tells them too
        try:
            await other.execute("CLUSTER", "SETSLOT", slot, "NODE", ends.target_id)
        except RedisError:
            continue


async def _migrate(ends: MoveEnds, slot: int, keys: list[str], timeout_ms: int) -> None:
    """MIGRATE a batch; on BUSYKEY, again with REPLACE if both sides hold the same values."""
    args = [
        "MIGRATE",
        ends.target_host,
        str(ends.target_port),
        "",
        "0",
        str(timeout_ms),
        "AUTH2",
        ends.migrate_as.username,
        ends.migrate_as.password,
    ]
    try:
        await ends.source.execute(*args, "KEYS", *keys)
        return
    except RedisError as error:
        if "BUSYKEY" not in error.message:  # "ERR Target instance replied with error: BUSYKEY"
            raise MoveError(
                f"slot {slot}: MIGRATE to {ends.target.name} failed: {error.message}",
                hint="the slot stays open; run the same command again to finish the move",
            ) from None
    differing = [k for k in keys if not await _same_value(ends, k)]
    if differing:
        raise MoveError(
            f"slot {slot}: key {differing[0]!r} is on {ends.source.name} and"
            f" {ends.target.name} with different values; nothing was replaced",
            hint="decide which value is right, delete the other, then run again",
        )
    await ends.source.execute(*args, "REPLACE", "KEYS", *keys)


async def _same_value(ends: MoveEnds, key: str) -> bool:
    """DUMP of ``key`` on both sides equal. A key missing on either side counts as
    equal: MIGRATE moved it (the source answers ``-ASK``), or it was not the one MIGRATE
    found busy. The target needs ASKING: the slot is importing there, not yet its own."""
    try:
        mine = await ends.source.execute("DUMP", key, raw=True)
    except RedisError as error:
        if error.code != "ASK":
            raise
        return True  # no longer on the source: this MIGRATE moved it, nothing to compare
    await ends.target.execute("ASKING")  # for the next command on this connection
    theirs = await ends.target.execute("DUMP", key, raw=True)
    return theirs is None or mine == theirs


async def move_slots(
    ends: MoveEnds, slots: Sequence[int], *, migrate_timeout_ms: int, limit: float
) -> int:
    """Move ``slots`` one by one, each bounded by ``limit`` seconds; keys moved in all."""
    moved = 0
    for slot in slots:
        with anyio.fail_after(limit):
            moved += await move_slot(ends, slot, migrate_timeout_ms=migrate_timeout_ms)
    return moved
