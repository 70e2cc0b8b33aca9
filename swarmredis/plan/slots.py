"""Where slots go when a cluster's shard count changes (pure): as few slots moved as
possible, and afterwards every serving shard holds 16384/N slots within one.

Input is what the cluster serves now (each current primary's slot ranges, all 16384 slots
exactly once) and the primaries that serve slots afterwards (kept ones and new, empty
ones; a current primary not among them retires and gives everything away). Output is a
list of moves, each a source, a target and the ranges that go.

Why this many slots: every shard ends with ``base`` or ``base + 1`` slots (``base =
16384 // N``). The ``16384 % N`` shards that keep one slot more are the ones that hold the
most now, so the slots that stay where they are are as many as they can be (pair the
current counts, largest first, with the final counts, largest first). A giver gives its
highest slots, so what it keeps stays one range from its lowest slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swarmredis.constants import CLUSTER_SLOTS

SlotRange = tuple[int, int]  # inclusive, as CLUSTER NODES and SETSLOT ranges are


def slots_of(ranges: Iterable[SlotRange]) -> frozenset[int]:
    """Every slot in these inclusive ranges."""
    return frozenset(s for start, end in ranges for s in range(start, end + 1))


def ranges_of(slots: Iterable[int]) -> tuple[SlotRange, ...]:
    """Sorted slots -> the smallest list of inclusive ranges: {0,1,2,7} -> ((0,2),(7,7))."""
    ranges: list[list[int]] = []
    for slot in sorted(set(slots)):
        if ranges and slot == ranges[-1][1] + 1:
            ranges[-1][1] = slot
        else:
            ranges.append([slot, slot])
    return tuple((start, end) for start, end in ranges)


def format_ranges(ranges: Iterable[SlotRange]) -> str:
    """Ranges for people: ``0-5460,5461``."""
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges) or "-"


@dataclass(frozen=True)
class SlotMove:
    """Slots that go from one primary to another."""

    source: str
    target: str
    ranges: tuple[SlotRange, ...]

    @property
    def count(self) -> int:
        return sum(end - start + 1 for start, end in self.ranges)

    @property
    def slots(self) -> Iterable[int]:
        for start, end in self.ranges:
            yield from range(start, end + 1)

    def __str__(self) -> str:
        return f"{self.count} slots {self.source} -> {self.target}: {format_ranges(self.ranges)}"


@dataclass(frozen=True)
class PlannedMoves:
    """The slot moves ``plan`` shows, or (``unknown``) why they could not be read."""

    moves: tuple[SlotMove, ...] = ()
    unknown: str | None = None

    @property
    def slots(self) -> int:
        return sum(move.count for move in self.moves)

    def to_dict(self) -> dict[str, Any]:
        moves = [
            {"source": m.source, "target": m.target, "slots": m.count}
            | {"ranges": format_ranges(m.ranges)}
            for m in self.moves
        ]
        return {"slot_moves": moves, "slot_moves_unknown": self.unknown}


class SlotPlanError(ValueError):
    """The current slot map cannot be planned from (a gap, an overlap, a bad range)."""


def final_counts(current: Mapping[str, int], serving: Sequence[str]) -> dict[str, int]:
    """How many slots each of ``serving`` holds afterwards: ``base`` each, one more for
    the ``16384 % N`` that hold the most now (ties: the first in ``serving``)."""
    if not serving:
        raise SlotPlanError("no primary would serve the slots afterwards")
    if len(set(serving)) != len(serving):
        raise SlotPlanError(f"a primary is named twice: {', '.join(serving)}")
    if len(serving) > CLUSTER_SLOTS:
        raise SlotPlanError(f"{len(serving)} primaries for {CLUSTER_SLOTS} slots")
    base, extra = divmod(CLUSTER_SLOTS, len(serving))
    by_holding = sorted(serving, key=lambda name: (-current.get(name, 0), serving.index(name)))
    more = set(by_holding[:extra])
    return {name: base + (1 if name in more else 0) for name in serving}


def plan_moves(
    current: Mapping[str, Sequence[SlotRange]], serving: Sequence[str]
) -> list[SlotMove]:
    """The moves that take the cluster from ``current`` (primary -> ranges it serves) to
    an even map over ``serving``. Raises SlotPlanError if ``current`` does not cover every
    slot exactly once. No moves when the map is already even over ``serving``."""
    held = _slots_held(current)
    counts = final_counts({name: len(slots) for name, slots in held.items()}, serving)
    givers: list[tuple[str, list[int]]] = []
    for name, slots in held.items():  # retiring ones give all, others their highest
        excess = len(slots) - counts.get(name, 0)
        if excess > 0:
            givers.append((name, slots[len(slots) - excess :]))
    wanted = [
        (name, counts[name] - len(held.get(name, [])))
        for name in serving
        if counts[name] > len(held.get(name, []))
    ]
    moves: list[SlotMove] = []
    pool = [(name, slot) for name, slots in givers for slot in slots]
    at = 0
    for target, need in wanted:
        taken = pool[at : at + need]
        at += need
        for source in dict.fromkeys(name for name, _ in taken):
            ranges = ranges_of(slot for name, slot in taken if name == source)
            moves.append(SlotMove(source, target, ranges))
    return moves


def apply_moves(
    current: Mapping[str, Sequence[SlotRange]], moves: Iterable[SlotMove]
) -> dict[str, tuple[SlotRange, ...]]:
    """The slot map after ``moves`` (primaries left with no slot are left out)."""
    held = {name: set(slots) for name, slots in _slots_held(current).items()}
    for move in moves:
        for slot in move.slots:
            if slot not in held.get(move.source, set()):
                raise SlotPlanError(f"{move.source} does not serve slot {slot} to move it")
            held[move.source].discard(slot)
            held.setdefault(move.target, set()).add(slot)
    return {name: ranges_of(slots) for name, slots in held.items() if slots}


def _slots_held(current: Mapping[str, Sequence[SlotRange]]) -> dict[str, list[int]]:
    """Each primary's slots, ascending; every slot exactly once, or SlotPlanError."""
    owner: dict[int, str] = {}
    held: dict[str, list[int]] = {}
    for name, ranges in current.items():
        slots = held.setdefault(name, [])
        for start, end in ranges:
            if not 0 <= start <= end < CLUSTER_SLOTS:
                raise SlotPlanError(f"{name}: slot range {start}-{end} is not within 0-16383")
            for slot in range(start, end + 1):
                if slot in owner:
                    raise SlotPlanError(f"slot {slot} is served by {owner[slot]} and {name}")
                owner[slot] = name
                slots.append(slot)
        slots.sort()
    if len(owner) != CLUSTER_SLOTS:
        missing = ranges_of(set(range(CLUSTER_SLOTS)) - owner.keys())
        shown = format_ranges(missing[:5])
        raise SlotPlanError(
            f"{CLUSTER_SLOTS - len(owner)} slots are served by no primary ({shown}):"
            " the cluster must serve every slot before its shard count changes"
        )
    return held


def even_out(
    shards: Mapping[int, Sequence[str]], held: Mapping[str, Sequence[SlotRange]]
) -> list[SlotMove]:
    """The moves that even out a live cluster laid out in ``shards`` (shard -> its
    members' names, the planned primary first): ``held`` is what each primary serves now.
    Each shard is served by the member holding most of its slots now (a replica after a
    failover), or by its planned primary if none holds any (a new shard)."""
    serving = []
    for _, names in sorted(shards.items()):
        holding = [n for n in names if held.get(n)]
        best = max(holding, key=lambda n: sum(b - a + 1 for a, b in held[n]), default=names[0])
        serving.append(best)
    return plan_moves(held, serving)
