"""Scale-in decisions (pure): which seats retire and never come back, what the retiring
nodes plan (no slots; their objects marked ``retire``), which primaries receive a
retiring shard's slots, and which retiring members the bootstrap leaves out."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_rebalance_plan import member, view
from test_seating import deployed, stack

from swarmredis.engine.modes.cluster.moves import rebalance_moves, serving_primaries
from swarmredis.engine.modes.cluster.plan import still_known
from swarmredis.errors import SpecError
from swarmredis.plan.jobs import VolumeSet, record_body, recorded_volumes
from swarmredis.plan.seating import seating
from swarmredis.plan.slots import apply_moves
from swarmredis.stackfile.load import parse_stack


def test_fewer_shards_keep_the_retiring_seats_in_the_layout_flagged() -> None:
    layout = seating(stack(shards=3), deployed(stack(shards=4))).layout
    assert layout.retiring == {"node-4", "node-8"}
    assert {s.name for s in layout.seats} >= {"node-4", "node-8"}
    assert layout.positions["node-4"] == 4  # keeps its port while it drains


def test_a_retired_index_is_never_given_to_a_new_seat_even_where_the_fresh_layout_fits() -> None:
    """shards 4 -> 3 -> 4 with no replicas: the live seats (node-1..3) fit a fresh 4-shard
    layout, whose node-4 is the retired one: the new shard takes node-5."""
    three = stack(shards=3, replicas=0)
    fresh = seating(stack(shards=4, replicas=0), deployed(three)).layout
    assert {s.name for s in fresh.seats} == {"node-1", "node-2", "node-3", "node-4"}
    again = seating(stack(shards=4, replicas=0), deployed(three), retired=[4]).layout
    assert {s.name for s in again.seats} == {"node-1", "node-2", "node-3", "node-5"}
    assert again.retiring == frozenset()


def test_the_volume_record_keeps_retired_indices_and_old_records_read_as_none() -> None:
    volumes = VolumeSet(("acme_data-1",), "redis:7.0", (), retired=(7, 8))
    body = record_body("acme", volumes)
    assert recorded_volumes({"Spec": body}) == volumes
    old = record_body("acme", replace(volumes, retired=()))
    assert "retired" not in old["Labels"]["io.swarmredis.volumes"]  # as records were
    assert recorded_volumes({"Spec": old}) == replace(volumes, retired=())
    assert volumes.merged(replace(volumes, retired=(9,))).retired == (7, 8, 9)


def test_a_retiring_shard_gives_every_slot_to_the_kept_ones_evenly() -> None:
    members = [
        replace(m, retiring=m.name in ("node-7", "node-8"))
        for m in (member(f"node-{i}") for i in (1, 2, 3, 7, 4, 5, 6, 8))
    ]
    views = {m.name: view(m.name) for m in members}
    quarter = {"node-1": (0, 4095), "node-2": (4096, 8191), "node-3": (8192, 12287)}
    for name, (a, b) in {**quarter, "node-7": (12288, 16383)}.items():
        views[name] = view(name, ((a, b),))
    assert serving_primaries(members, views) == ["node-1", "node-2", "node-3"]
    moves = rebalance_moves(members, views)
    assert {m.source for m in moves} == {"node-7"}
    after = apply_moves({n: v.me.slots for n, v in views.items() if v.me.slots}, moves)
    counts = sorted(sum(b - a + 1 for a, b in r) for r in after.values())
    assert set(after) == {"node-1", "node-2", "node-3"} and counts == [5461, 5461, 5462]


def test_the_bootstrap_leaves_out_retiring_members_every_kept_one_forgot() -> None:
    members = [replace(member(n), retiring=n == "node-7") for n in ("node-1", "node-7")]
    alone = {m.name: view(m.name) for m in members}  # nobody lists anybody else
    assert [m.name for m in still_known(members, alone)] == ["node-1"]
    known = dict(alone)
    one = alone["node-1"]
    known["node-1"] = replace(one, cluster_nodes=(*one.cluster_nodes, alone["node-7"].me))
    assert [m.name for m in still_known(members, known)] == ["node-1", "node-7"]


@pytest.mark.parametrize(("value", "ok"), [("no", True), ("yes", True), ("maybe", False)])
def test_the_stack_file_may_set_cluster_allow_replica_migration_yes_or_no(
    value: str, ok: bool
) -> None:
    text = f"name: acme\nmode: cluster\nconfig:\n  cluster-allow-replica-migration: {value}\n"
    if ok:
        assert parse_stack(text).config["cluster-allow-replica-migration"] == value
    else:
        with pytest.raises(
            SpecError, match=r"config\.cluster-allow-replica-migration: .* yes or no"
        ):
            parse_stack(text)
