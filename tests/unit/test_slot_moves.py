"""The pure slot-move planner: fewest slots moved, even within one slot, any shard count."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmredis.constants import CLUSTER_SLOTS
from swarmredis.plan.placement import slot_ranges
from swarmredis.plan.slots import (
    SlotMove,
    SlotPlanError,
    apply_moves,
    even_out,
    plan_moves,
    ranges_of,
)


def even(names: list[str]) -> dict[str, list[tuple[int, int]]]:
    """The map a fresh deploy gives ``names`` (placement.slot_ranges)."""
    return {name: [r] for name, r in zip(names, slot_ranges(len(names)), strict=True)}


def names(n: int, first: int = 1) -> list[str]:
    return [f"node-{k}" for k in range(first, first + n)]


def counts(slot_map: dict[str, tuple[tuple[int, int], ...]]) -> dict[str, int]:
    return {name: sum(b - a + 1 for a, b in ranges) for name, ranges in slot_map.items()}


def optimum(current: dict[str, list[tuple[int, int]]], serving: list[str]) -> int:
    """The fewest slots any plan moves, found another way: pair current counts with final
    counts, largest with largest (no pairing keeps more slots in place)."""
    have = {n: sum(b - a + 1 for a, b in r) for n, r in current.items()}
    base, extra = divmod(CLUSTER_SLOTS, len(serving))
    finals = sorted([base + 1] * extra + [base] * (len(serving) - extra), reverse=True)
    kept = sorted((have.get(n, 0) for n in serving), reverse=True)
    return CLUSTER_SLOTS - sum(min(a, b) for a, b in zip(kept, finals, strict=True))


def test_scale_out_3_to_4_moves_a_quarter_into_the_new_primary() -> None:
    current = even(names(3))
    moves = plan_moves(current, [*names(3), "node-7"])
    assert [str(m) for m in moves] == [
        "1366 slots node-1 -> node-7: 4096-5461",
        "1365 slots node-2 -> node-7: 9558-10922",
        "1365 slots node-3 -> node-7: 15019-16383",
    ]
    after = apply_moves(current, moves)
    assert counts(after) == dict.fromkeys([*names(3), "node-7"], 4096)
    assert after["node-1"] == ((0, 4095),)  # what a giver keeps stays one range


def test_scale_in_4_to_3_drains_the_retiring_shard_only() -> None:
    current = even(names(4))
    moves = plan_moves(current, names(3))
    assert {m.source for m in moves} == {"node-4"}
    assert sum(m.count for m in moves) == 4096
    after = apply_moves(current, moves)
    assert "node-4" not in after
    assert sorted(counts(after).values()) == [5461, 5461, 5462]


def test_an_even_map_needs_no_move_and_so_does_the_result_of_a_plan() -> None:
    current = even(names(3))
    assert plan_moves(current, names(3)) == []
    after = apply_moves(current, plan_moves(current, names(5)))
    assert plan_moves(dict(after), names(5)) == []


def test_a_map_with_a_gap_or_an_overlap_is_refused_with_the_slots() -> None:
    with pytest.raises(SlotPlanError, match=r"1 slots are served by no primary \(100\)"):
        plan_moves({"node-1": [(0, 99), (101, 16383)]}, ["node-1", "node-2"])
    with pytest.raises(SlotPlanError, match="slot 5 is served by node-1 and node-2"):
        plan_moves({"node-1": [(0, 16383)], "node-2": [(5, 5)]}, ["node-1"])
    with pytest.raises(SlotPlanError, match=r"node-1: slot range 0-16384 is not within"):
        plan_moves({"node-1": [(0, 16384)]}, ["node-1"])
    with pytest.raises(SlotPlanError, match="no primary would serve"):
        plan_moves(even(names(3)), [])
    with pytest.raises(SlotPlanError, match="named twice"):
        plan_moves(even(names(3)), ["node-1", "node-1"])


def test_a_move_must_take_slots_its_source_serves() -> None:
    with pytest.raises(SlotPlanError, match="node-2 does not serve slot 0"):
        apply_moves(even(names(2)), [SlotMove("node-2", "node-1", ((0, 0),))])


def test_ranges_of_joins_neighbours() -> None:
    assert ranges_of([5, 3, 4, 9, 10, 1]) == ((1, 1), (3, 5), (9, 10))
    assert ranges_of([]) == ()


@settings(max_examples=150, deadline=None)
@given(
    before=st.integers(min_value=3, max_value=50),
    after=st.integers(min_value=3, max_value=50),
)
def test_any_change_of_shard_count_is_even_minimal_and_complete(before: int, after: int) -> None:
    current = even(names(before))
    # kept shards keep their names; new ones get new names; the highest shards retire
    serving = names(min(before, after)) + names(max(0, after - before), first=100)
    moves = plan_moves(current, serving)
    result = apply_moves(current, moves)
    assert sorted(result) == sorted(serving)
    assert max(counts(result).values()) - min(counts(result).values()) <= 1
    assert sum(m.count for m in moves) == optimum(current, serving)
    assert all(m.source != m.target and m.count > 0 for m in moves)
    assert plan_moves(dict(result), serving) == []


@st.composite
def uneven_maps(draw: st.DrawFn) -> dict[str, list[tuple[int, int]]]:
    """Any map of every slot over 1..12 primaries, in runs (as a half-done rebalance or a
    hand-made cluster leaves it)."""
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=CLUSTER_SLOTS - 1), max_size=20)))
    bounds = [0, *cuts, CLUSTER_SLOTS]
    owners = draw(st.integers(min_value=1, max_value=12))
    slot_map: dict[str, list[tuple[int, int]]] = {}
    for a, b in itertools.pairwise(bounds):
        owner = f"node-{draw(st.integers(min_value=1, max_value=owners))}"
        slot_map.setdefault(owner, []).append((a, b - 1))
    return slot_map


@settings(max_examples=150, deadline=None)
@given(current=uneven_maps(), extra=st.integers(min_value=0, max_value=4))
def test_from_any_map_the_plan_is_even_and_minimal(
    current: dict[str, list[tuple[int, int]]], extra: int
) -> None:
    serving = sorted(current) + names(extra, first=200)
    moves = plan_moves(current, serving)
    result = apply_moves(current, moves)
    assert max(counts(result).values()) - min(counts(result).values()) <= 1
    assert set(result) == set(serving)
    assert sum(m.count for m in moves) == optimum(current, serving)


def test_even_out_serves_each_shard_by_who_holds_it_now_or_its_new_primary() -> None:
    """shard -> members (planned primary first): after a failover the replica holding
    the shard's slots gives them; a new shard's planned primary receives."""
    shards = {1: ["node-1", "node-4"], 2: ["node-2", "node-5"], 3: ["node-3", "node-6"]}
    shards[4] = ["node-7", "node-8"]
    held = {"node-4": ((0, 5461),), "node-2": ((5462, 10922),), "node-3": ((10923, 16383),)}
    moves = even_out(shards, held)
    assert {m.source for m in moves} == {"node-4", "node-2", "node-3"}
    assert {m.target for m in moves} == {"node-7"} and sum(m.count for m in moves) == 4096
