"""Slot moves (pure): which moves make a cluster's slots even, and what an interrupted
move left open and how to end it.

Every node shows its own open slots on its ``myself`` line of CLUSTER NODES: ``[s->-T]``
on a source migrating slot ``s`` to ``T``, ``[s-<-S]`` on a target importing it from
``S``. A move killed at any step leaves one of these pictures (``migrate.move_slot``'s
order: target IMPORTING, source MIGRATING, keys, target NODE, source NODE, others):

- importing on the target only (killed after step 1), or both markers (killed while keys
  moved): keys may be on both sides; the move is finished from the slot's current owner;
- migrating on the source only: the target already owns the slot (step 4 done); only
  the source's (and the others') SETSLOT NODE are left;
- a marker whose target is no primary any more, and no owner among the marked nodes:
  the move cannot end there; it is left as it is (``status`` reports the open slot).
  A marker never names a node the cluster forgot: ``CLUSTER FORGET`` clears the
  forgetting node's markers that name the forgotten one (``clusterDelNode`` in cluster.c),
  so retiring nodes (``retire.py``) leave none behind.

With Redis 7, a failover of a source mid-move leaves the new primary without the
marker (SETSLOT is not replicated) and the target importing from the old one: the move is
finished from the current owner, the new primary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.plan import Views, current_primary
from swarmredis.engine.redis.replies import ClusterNode, myself
from swarmredis.plan.slots import SlotMove, plan_moves


@dataclass(frozen=True)
class OpenMove:
    """One open slot and how to end its move."""

    slot: int
    owner: str  # node id of the primary that serves the slot now (as most nodes see it)
    target: str | None  # node id to finish the move to; None: clear the markers
    marked: tuple[str, ...]  # node ids that show a marker for this slot

    @property
    def finish(self) -> bool:
        return self.target is not None


def open_moves(tables: Mapping[str, Sequence[ClusterNode]]) -> list[OpenMove]:
    """From each reachable node's CLUSTER NODES (by its node id), every open slot and how
    to end its move, by slot."""
    primaries = {n.node_id for table in tables.values() for n in table if n.is_primary}
    marks: dict[int, dict[str, list[tuple[str, str]]]] = {}
    for node_id, table in tables.items():
        me = myself(table)
        for found in me.open_slots if me else ():
            marks.setdefault(found.slot, {}).setdefault(found.state, []).append(
                (node_id, found.peer_id)
            )
    moves = []
    for slot, states in sorted(marks.items()):
        owner = _owner(tables, slot)
        importing = [node for node, _ in states.get("importing", [])]
        migrating = [peer for _, peer in states.get("migrating", [])]
        candidates = [*importing, *migrating]  # the importing side names the target best
        target = next((t for t in candidates if t in primaries and t != owner), None)
        if target is None and owner in candidates:
            target = owner  # the target owns it: only SETSLOT NODE is left elsewhere
        marked = tuple(sorted({n for pairs in states.values() for n, _ in pairs}))
        moves.append(OpenMove(slot, owner, target, marked))
    return moves


def _owner(tables: Mapping[str, Sequence[ClusterNode]], slot: int) -> str:
    """The node id most nodes see serving ``slot`` ("" if none does)."""
    votes: dict[str, int] = {}
    for table in tables.values():
        for n in table:
            if n.is_primary and any(a <= slot <= b for a, b in n.slots):
                votes[n.node_id] = votes.get(n.node_id, 0) + 1
    return max(sorted(votes), key=lambda node_id: votes[node_id], default="")


def serving_primaries(members: Sequence[ClusterMember], views: Views) -> list[str]:
    """Who serves each shard once the slots are even, in plan order: the member that
    serves it now (its planned primary, or a replica after a failover), or, for a shard
    that serves nothing yet (a new one), its planned primary. A retiring shard serves
    nothing once the slots are even: everything it holds goes to these."""
    heads = [m for m in members if m.role == "primary" and not m.retiring]
    return [current_primary(m.shard, members, views) or m.name for m in heads]


def rebalance_moves(members: Sequence[ClusterMember], views: Views) -> list[SlotMove]:
    """The fewest slot moves that leave every shard 16384/N slots within one
    (``plan.slots.plan_moves``), from what each primary says it serves; none when even.

    Raises SlotPlanError when the primaries' own views do not cover every slot exactly
    once (run it on a whole cluster, after ``final_pending`` is empty)."""
    current = {
        m.name: views[m.name].me.slots
        for m in members
        if views[m.name].me.is_primary and views[m.name].me.slots
    }
    return plan_moves(current, serving_primaries(members, views))
