"""Stable identities: scaling adds and retires seats, never renames or re-roles one."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmredis.stackfile.identity import (
    IdentityError,
    Seat,
    fresh_seats,
    scaled_seats,
)
from swarmredis.stackfile.load import parse_stack
from swarmredis.stackfile.topology import topology


def shape(seats: tuple[Seat, ...]) -> list[tuple[str, str, int | None]]:
    return [(s.name, s.role, s.shard) for s in seats]


@pytest.mark.parametrize(("shards", "replicas"), [(3, 1), (3, 0), (4, 2), (5, 1)])
def test_fresh_seats_are_the_topology_of_a_fresh_stack(shards: int, replicas: int) -> None:
    stack = parse_stack(f"name: s\nmode: cluster\nshards: {shards}\nreplicas: {replicas}\n")
    nodes = [n for n in topology(stack) if n.kind == "redis"]
    assert shape(tuple(sorted(fresh_seats("cluster", shards, replicas)))) == [
        (n.name, n.role, n.shard) for n in sorted(nodes, key=lambda n: n.index)
    ]


def test_a_live_stack_with_its_own_counts_changes_nothing() -> None:
    for mode, shards, replicas in [("cluster", 3, 1), ("replication", 1, 2), ("standalone", 1, 0)]:
        seats = fresh_seats(mode, shards, replicas)  # type: ignore[arg-type]
        scaling = scaled_seats(mode, shards, replicas, seats)  # type: ignore[arg-type]
        assert not scaling.changes and scaling.seats == tuple(sorted(seats))


def test_shards_3_to_4_adds_a_primary_and_its_replica_under_new_names() -> None:
    scaling = scaled_seats("cluster", 4, 1, fresh_seats("cluster", 3, 1))
    assert shape(scaling.add) == [("node-7", "primary", 4), ("node-8", "replica", 4)]
    assert scaling.retire == ()
    assert ("node-4", "replica", 1) in shape(scaling.keep)  # not re-planned as shard 4's


def test_shards_4_to_3_retires_the_highest_shard_whole() -> None:
    scaling = scaled_seats("cluster", 3, 1, fresh_seats("cluster", 4, 1))
    assert shape(scaling.retire) == [("node-4", "primary", 4), ("node-8", "replica", 4)]
    assert scaling.add == ()


def test_replicas_up_and_down_in_both_modes() -> None:
    up = scaled_seats("cluster", 3, 2, fresh_seats("cluster", 3, 1))
    assert shape(up.add) == [
        ("node-7", "replica", 1),
        ("node-8", "replica", 2),
        ("node-9", "replica", 3),
    ]
    down = scaled_seats("cluster", 3, 1, up.seats)
    assert shape(down.retire) == shape(up.add)  # the newest replica of each shard goes
    assert down.seats == tuple(sorted(fresh_seats("cluster", 3, 1)))
    more = scaled_seats("replication", 1, 3, fresh_seats("replication", 1, 2))
    assert shape(more.add) == [("node-4", "replica", None)]
    fewer = scaled_seats("replication", 1, 1, more.seats)
    assert shape(fewer.retire) == [("node-3", "replica", None), ("node-4", "replica", None)]


def test_a_shard_whose_primary_was_never_created_gets_one_at_a_new_index() -> None:
    """A run killed while it created shard 4's services left its replica only: the
    primary comes at the next free index, and the replica keeps its seat."""
    live = (*fresh_seats("cluster", 3, 1), Seat(8, "replica", 4))
    scaling = scaled_seats("cluster", 4, 1, live)
    assert shape(scaling.add) == [("node-9", "primary", 4)]
    assert ("node-8", "replica", 4) in shape(scaling.keep) and scaling.retire == ()


def test_seats_that_are_not_a_stack_are_refused_naming_them() -> None:
    cases = {
        "shard 1 has 2 planned primaries": [Seat(1, "primary", 1), Seat(2, "primary", 1)],
        "node-1 is found twice": [Seat(1, "primary", 1), Seat(1, "replica", 1)],
        "node-3: shard None does not fit cluster": [
            Seat(1, "primary", 1),
            Seat(3, "replica", None),
        ],
    }
    for message, seats in cases.items():
        with pytest.raises(IdentityError, match=message):
            scaled_seats("cluster", 3, 1, seats)


@st.composite
def changes(draw: st.DrawFn) -> list[tuple[int, int]]:
    return draw(
        st.lists(
            st.tuples(st.integers(min_value=1, max_value=8), st.integers(min_value=0, max_value=3)),
            min_size=1,
            max_size=6,
        )
    )


@settings(max_examples=300, deadline=None)
@given(start=st.tuples(st.integers(1, 8), st.integers(0, 3)), steps=changes())
def test_any_sequence_of_changes_keeps_every_survivor_as_it_was(
    start: tuple[int, int], steps: list[tuple[int, int]]
) -> None:
    seats = fresh_seats("cluster", *start)
    ever: dict[int, Seat] = {s.index: s for s in seats}
    for shards, replicas in steps:
        scaling = scaled_seats("cluster", shards, replicas, seats, used=max(ever))
        seats = scaling.seats
        for seat in seats:  # a name, once given, always means the same role and shard
            was = ever.setdefault(seat.index, seat)
            assert (was.role, was.shard) == (seat.role, seat.shard)
        assert {s.shard for s in seats if s.role == "primary"} == set(range(1, shards + 1))
        for k in range(1, shards + 1):
            assert len([s for s in seats if s.shard == k and s.role == "replica"]) == replicas
        assert len({s.index for s in seats}) == len(seats)


def test_a_retired_name_is_never_given_again() -> None:
    """Its volume is kept (unless pruned), with the old node's data and nodes.conf."""
    one = scaled_seats("cluster", 3, 0, fresh_seats("cluster", 3, 1))  # node-4..6 retire
    again = scaled_seats("cluster", 3, 1, one.seats, used=6)
    assert [s.name for s in again.add] == ["node-7", "node-8", "node-9"]
