"""Moving slots between two cluster primaries with the classic protocol, losing nothing.

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

Slots move in batches (``move_batch``, up to ``SLOTS_PER_BATCH``): each step above is one
pipeline over the batch's slots (one MIGRATE per slot, up to ``KEYS_PER_MIGRATE`` keys
each, all in one round trip), so a batch costs about ten round trips, not ten per slot. The order
per slot is unchanged; the batch's slots are open together (clients get ``-ASK`` for
their keys in the meantime, as for one slot).

``BUSYKEY``: a key that is on both sides (a MIGRATE whose reply was lost after the target
stored the key) is sent again with ``REPLACE`` only if both sides hold the same value
(``DUMP`` equal); otherwise the move stops and names the key. A move is idempotent: run
again on a slot left open by an interrupted run, it finishes it (from the start, or from
the ``SETSLOT NODE`` steps once the target owns the slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swarmredis.engine.redis.replies import myself, parse_cluster_nodes
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import Credentials, RedisNode

KEYS_PER_MIGRATE = 100  # keys per MIGRATE (one slot's: a cluster node refuses more)
SLOTS_PER_BATCH = 64  # slots open together, each step pipelined over them
# MIGRATE blocks the source (and RESTORE the target) while one key goes over: a key
# bigger than this is reported before its slot is opened (at 100 MB/s, 2.5 s of block;
# cluster-node-timeout is 15 s). MEMORY USAGE is the measure: what the key takes in
# memory, close to (and usually above) what MIGRATE sends.
MAX_KEY_BYTES = 256 * 1024 * 1024
SIZES_PER_ROUND = 1000  # MEMORY USAGE commands per pipeline
Command = tuple[str, ...]


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
    return await move_batch(
        ends, [slot], migrate_timeout_ms=migrate_timeout_ms, keys_per_migrate=keys_per_migrate
    )


async def move_batch(
    ends: MoveEnds,
    slots: Sequence[int],
    *,
    migrate_timeout_ms: int,
    keys_per_migrate: int = KEYS_PER_MIGRATE,
    max_key_bytes: int = MAX_KEY_BYTES,
) -> int:
    """Move ``slots`` together, each step of the protocol for all of them in one pipeline
    (the order per slot is the module doc's); the number of keys moved.

    A key over ``max_key_bytes`` stops the batch before any of its slots is opened. A
    MIGRATE error stops it before any of its slots is finalised: they all stay open, and
    a re-run finishes each."""
    owned = await _owned(ends.target, slots)  # step 3 reached (or no move at all)
    fresh = [s for s in slots if s not in owned]
    await _refuse_big_keys(ends, fresh, max_key_bytes)
    source, target = ends.source_id, ends.target_id
    await _all(ends.target, [("CLUSTER", "SETSLOT", str(s), "IMPORTING", source) for s in fresh])
    await _all(ends.source, [("CLUSTER", "SETSLOT", str(s), "MIGRATING", target) for s in fresh])
    moved, left = 0, list(fresh)
    while left:
        found = await _keys(ends.source, left, keys_per_migrate)
        found = {s: keys for s, keys in found.items() if keys}
        left = list(found)
        if found:
            await _migrate(ends, found, migrate_timeout_ms)
        moved += sum(len(keys) for keys in found.values())
    await _finalise(ends, fresh, owned)
    return moved


async def _refuse_big_keys(ends: MoveEnds, slots: Sequence[int], limit: int) -> None:
    """MoveError naming the first key of ``slots`` over ``limit`` bytes, before anything
    of the batch moves (its slots are not open yet: nothing to end)."""
    node = ends.source
    counts = await node.pipeline(*(("CLUSTER", "COUNTKEYSINSLOT", str(s)) for s in slots))
    keyed = [(s, n) for s, n in zip(slots, counts, strict=True) if isinstance(n, int) and n]
    if not keyed:
        return
    listed = await node.pipeline(*(("CLUSTER", "GETKEYSINSLOT", str(s), str(n)) for s, n in keyed))
    pairs = [
        (slot, str(key))
        for (slot, _), keys in zip(keyed, listed, strict=True)
        if isinstance(keys, list)
        for key in keys
    ]
    for start in range(0, len(pairs), SIZES_PER_ROUND):
        chunk = pairs[start : start + SIZES_PER_ROUND]
        sizes = await node.pipeline(*(("MEMORY", "USAGE", key) for _, key in chunk))
        for (slot, key), size in zip(chunk, sizes, strict=True):
            if isinstance(size, int) and size > limit:
                raise MoveError(
                    f"slot {slot}: key {key!r} on {node.name} takes {size} bytes, over the"
                    f" {limit} a move may carry (MIGRATE blocks {node.name} while it sends"
                    " one key); nothing of this batch was moved",
                    hint="split or delete the key, or move its slot by hand in a quiet"
                    " moment; then run the same command again",
                )


async def _owned(node: RedisNode, slots: Sequence[int]) -> set[int]:
    """Which of ``slots`` the node serves in its own view (its ``myself`` line)."""
    table = await node.read(parse_cluster_nodes, "CLUSTER", "NODES")  # garbage: a reply error
    me = myself(table)
    if me is None:
        raise node.unexpected("CLUSTER NODES", "", "no 'myself' line")
    return {s for s in slots if any(start <= s <= end for start, end in me.slots)}


async def _all(node: RedisNode, commands: Sequence[Command], *, masters_only: bool = False) -> None:
    """Every command in one round trip; the first refusal is raised (with ``masters_only``,
    ``ERR Please use SETSLOT only with masters`` is not one: see the module doc)."""
    if not commands:
        return
    for reply in await node.pipeline(*commands):
        if isinstance(reply, RedisError):
            if masters_only and "only with masters" in reply.message:
                continue
            raise reply


async def _keys(node: RedisNode, slots: Sequence[int], count: int) -> dict[int, list[str]]:
    """Up to ``count`` keys of each slot still on ``node`` (one round trip)."""
    replies = await node.pipeline(
        *(("CLUSTER", "GETKEYSINSLOT", str(s), str(count)) for s in slots)
    )
    found = {}
    for slot, reply in zip(slots, replies, strict=True):
        if isinstance(reply, RedisError):
            raise reply
        if not isinstance(reply, list):
            raise node.unexpected("CLUSTER GETKEYSINSLOT", reply, "not a list of keys")
        found[slot] = [str(k) for k in reply]
    return found


async def _finalise(ends: MoveEnds, fresh: Sequence[int], owned: set[int]) -> None:
    """SETSLOT NODE: the target first (the slots it does not own yet), then the source,
    then the other primaries (best effort: gossip tells them too)."""
    node = ends.target_id
    told = [("CLUSTER", "SETSLOT", str(s), "NODE", node) for s in sorted({*fresh, *owned})]
    await _all(ends.target, [("CLUSTER", "SETSLOT", str(s), "NODE", node) for s in fresh])
    await _all(ends.source, told, masters_only=True)
    for other in ends.others:
        try:
            await other.pipeline(*told)
        except RedisError:
            continue


def _migrate_args(ends: MoveEnds, timeout_ms: int) -> list[str]:
    return [
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


async def _migrate(ends: MoveEnds, found: dict[int, list[str]], timeout_ms: int) -> None:
    """One MIGRATE per slot (a cluster node refuses keys of several slots in one), all
    in one round trip; on BUSYKEY, that slot's again with REPLACE if both sides hold the
    same values. Any other error stops the batch (after the pipeline: the commands
    already sent run anyway)."""
    args = _migrate_args(ends, timeout_ms)
    slots = list(found)
    replies = await ends.source.pipeline(*((*args, "KEYS", *found[s]) for s in slots))
    busy = []
    for slot, reply in zip(slots, replies, strict=True):
        if not isinstance(reply, RedisError):
            continue
        if "BUSYKEY" not in reply.message:  # "ERR Target instance replied with error: BUSYKEY"
            raise MoveError(
                f"slot {slot}: MIGRATE to {ends.target.name} failed: {reply.message}",
                hint="the slot stays open; run the same command again to finish the move",
            )
        busy.append(slot)
    for slot in busy:
        await _replace_if_same(ends, slot, found[slot], args)


async def _replace_if_same(ends: MoveEnds, slot: int, keys: list[str], args: list[str]) -> None:
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
