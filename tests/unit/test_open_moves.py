"""Open slots left by interrupted moves, and how each is ended (pure)."""

from __future__ import annotations

from swarmredis.engine.modes.cluster.moves import OpenMove, open_moves
from swarmredis.engine.redis.replies import ClusterNode, parse_cluster_nodes

A, B, C, R = "a" * 40, "b" * 40, "c" * 40, "r" * 40  # R: A's replica
SLOTS = {A: "0-5460", B: "5461-10922", C: "10923-16383"}


def table(
    me: str, slots: dict[str, str] = SLOTS, marks: str = "", replica_of: str = A
) -> list[ClusterNode]:
    """One node's CLUSTER NODES: three primaries and A's replica; ``marks`` on its own line."""
    lines = []
    for node_id in (A, B, C, R):
        flags = "myself," if node_id == me else ""
        if node_id in slots:
            role, primary, owned = "master", "-", slots[node_id]
        else:
            role, primary, owned = "slave", replica_of, ""
        tail = f" {marks}" if node_id == me and marks else ""
        address = "10.0.1.1:6379@16379"
        line = f"{node_id} {address} {flags}{role} {primary} 0 0 1 connected {owned}{tail}"
        lines.append(line.rstrip())
    return list(parse_cluster_nodes("\n".join(lines)))


def test_no_marker_no_open_move() -> None:
    assert open_moves({n: table(n) for n in (A, B, C, R)}) == []


def test_both_markers_or_the_target_alone_finish_the_move_from_the_owner() -> None:
    both = {A: table(A, marks=f"[100->-{B}]"), B: table(B, marks=f"[100-<-{A}]"), C: table(C)}
    assert open_moves(both) == [OpenMove(100, A, B, (A, B))]
    only_target = {A: table(A), B: table(B, marks=f"[100-<-{A}]"), C: table(C)}
    assert open_moves(only_target) == [OpenMove(100, A, B, (B,))]


def test_the_source_alone_marked_after_the_target_took_the_slot_finishes_the_setslots() -> None:
    moved = {A: "0-99 101-5460", B: "100 5461-10922", C: "10923-16383"}
    tables = {A: table(A, moved, marks=f"[100->-{B}]"), B: table(B, moved), C: table(C, moved)}
    (move,) = open_moves(tables)
    assert (move.owner, move.target, move.finish) == (B, B, True)


def test_a_marker_naming_a_node_that_is_gone_is_cleared() -> None:
    gone = "d" * 40
    (move,) = open_moves({A: table(A, marks=f"[7->-{gone}]"), B: table(B)})
    assert move == OpenMove(7, A, None, (A,)) and not move.finish


def test_after_a_failover_of_the_source_the_new_primary_finishes_the_move() -> None:
    """Redis 7 does not replicate SETSLOT: the promoted replica has no marker, the target
    still imports from the old primary, now a replica."""
    failed_over = {R: "0-5460", B: "5461-10922", C: "10923-16383"}
    tables = {
        R: table(R, failed_over, replica_of=R),
        B: table(B, failed_over, marks=f"[100-<-{A}]", replica_of=R),
        C: table(C, failed_over, replica_of=R),
    }
    assert open_moves(tables) == [OpenMove(100, R, B, (B,))]
