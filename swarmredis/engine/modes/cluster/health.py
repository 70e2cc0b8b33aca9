"""Cluster mode's health rules (pure): coverage, agreement, failovers, even slot shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swarmredis.constants import CLUSTER_SLOTS
from swarmredis.engine.modes.cluster.plan import config_signature
from swarmredis.engine.modes.cluster.timing import window_left_open
from swarmredis.engine.redis.replies import format_ranges, parse_cluster_info
from swarmredis.engine.redis.verdict import (
    RESTORE_ROLES,
    ClusterHealth,
    NodeHealth,
    Probe,
    Problem,
    ProblemKind,
    Status,
    Verdict,
    lag_bytes,
    replica_problems,
)

DEGRADED, DOWN = Status.DEGRADED, Status.DOWN


def judge_cluster(probes: Sequence[Probe], lines: dict[str, NodeHealth]) -> Verdict:
    """The cluster summary (from the most up-to-date reachable node) and its problems."""
    reachable = [p for p in probes if p.facts is not None and p.facts.node_id]
    if not reachable:
        return None, [Problem(DOWN, ProblemKind.UNREACHABLE, None, "no cluster node is reachable")]
    by_id = {p.facts.node_id: p for p in reachable if p.facts}
    summary = _cluster_summary(reachable, list(by_id))
    problems = _coverage_problems(summary)
    if not summary.nodes_agree:
        message = "nodes disagree on the cluster config"
        problems.append(Problem(DEGRADED, ProblemKind.AGREEMENT, None, message))
    ref = next(p for p in reachable if p.target.name == summary.seen_by)
    problems += _unserved_slots(ref, by_id)
    for p in reachable:
        problems += _node_problems(p, lines[p.target.name], by_id)
        problems += _open_slots(p, by_id)
    problems += _uneven_shares(probes)
    return summary, problems


def _open_slots(p: Probe, by_id: Mapping[str, Probe]) -> list[Problem]:
    """Slots this node has open (a move that has not ended, or was interrupted: clients
    get ASK redirections and ``redis-cli --cluster`` refuses to run), with the peer."""
    me = p.facts.own_entry if p.facts else None
    problems = []
    for found in me.open_slots if me else ():
        peer = by_id.get(found.peer_id)
        named = peer.target.name if peer else found.peer_id[:8]
        way = "to" if found.state == "migrating" else "from"
        message = f"slot {found.slot} is open: {found.state} {way} {named}"
        problems.append(Problem(DEGRADED, ProblemKind.SLOTS, p.target.name, message))
    return problems


def _epoch(p: Probe) -> int:
    info = p.facts.cluster_info if p.facts else None
    return info.current_epoch if info else -1


def _cluster_summary(reachable: Sequence[Probe], ids: Sequence[str]) -> ClusterHealth:
    ref = max(reachable, key=lambda p: (_epoch(p), -reachable.index(p)))
    info = (ref.facts.cluster_info if ref.facts else None) or parse_cluster_info("")
    signatures = {config_signature(p.facts.cluster_nodes, ids) for p in reachable if p.facts}
    all_ok = all(
        p.facts and p.facts.cluster_info and p.facts.cluster_info.state == "ok" for p in reachable
    )
    return ClusterHealth(
        state="ok" if all_ok else info.state if info.state != "ok" else "partial",
        slots_assigned=info.slots_assigned,
        slots_ok=info.slots_ok,
        slots_pfail=info.slots_pfail,
        slots_fail=info.slots_fail,
        known_nodes=info.known_nodes,
        current_epoch=info.current_epoch,
        nodes_agree=len(signatures) == 1,
        seen_by=ref.target.name,
    )


def _coverage_problems(summary: ClusterHealth) -> list[Problem]:
    problems = []
    if summary.state != "ok":
        message = f"cluster_state is {summary.state}"
        problems.append(Problem(DOWN, ProblemKind.CLUSTER_STATE, None, message))
    if summary.slots_ok + summary.slots_pfail < CLUSTER_SLOTS:
        message = f"only {summary.slots_ok}/{CLUSTER_SLOTS} slots are served"
        problems.append(Problem(DOWN, ProblemKind.SLOTS, None, message))
    elif summary.slots_pfail:
        message = f"{summary.slots_pfail} slots on nodes suspected failing"
        problems.append(Problem(DEGRADED, ProblemKind.SLOTS, None, message))
    return problems


def _unserved_slots(ref: Probe, by_id: Mapping[str, Probe]) -> list[Problem]:
    """Slots whose owner (as the reference node sees it) does not answer us."""
    nodes = ref.facts.cluster_nodes if ref.facts else ()
    return [
        Problem(
            DOWN,
            ProblemKind.SLOTS,
            None,
            f"slots {format_ranges(n.slots)} are served by"
            f" {n.node_id[:8]} at {n.ip}:{n.port}, which does not answer",
        )
        for n in nodes
        if n.slots and n.is_primary and n.node_id not in by_id
    ]


def _node_problems(p: Probe, line: NodeHealth, by_id: Mapping[str, Probe]) -> list[Problem]:
    me, t = p.facts.own_entry if p.facts else None, p.target
    problems: list[Problem] = []
    if me is None:
        return problems
    if me.is_replica and me.primary_id:
        primary = by_id.get(me.primary_id)
        line.replicates = primary.target.name if primary else me.primary_id[:8]
        line.lag_bytes = lag_bytes(p, primary) if primary else None
        problems += replica_problems(line, line.replicates)
    if t.role == "replica" and me.is_primary and me.slots:
        message = f"failover: serves shard {t.primary} (planned replica); {RESTORE_ROLES}"
        problems.append(Problem(DEGRADED, ProblemKind.FAILOVER, t.name, message))
    if t.role == "primary" and me.is_replica:
        message = f"failover: now a replica of {line.replicates}; {RESTORE_ROLES}"
        problems.append(Problem(DEGRADED, ProblemKind.FAILOVER, t.name, message))
    for found in window_left_open(p.facts.settings if p.facts else {}):
        message = (
            f"{found}, as an interrupted bootstrap leaves it: `swarmredis deploy` sets it back"
        )
        problems.append(Problem(DEGRADED, ProblemKind.SETTINGS, t.name, message))
    return problems


def _uneven_shares(probes: Sequence[Probe]) -> list[Problem]:
    """Primaries whose share of the slots is not 16384/N within one (N planned shards), and
    planned primaries that serve none: a new shard whose slots have not come yet (an
    interrupted scale-out), or slots moved by hand. ``deploy`` evens them out."""
    shards = sum(1 for p in probes if p.target.role == "primary")
    if not shards:
        return []
    base, extra = divmod(CLUSTER_SLOTS, shards)
    share = f"{base}" if not extra else f"{base} or {base + 1}"
    problems = []
    for p in probes:
        me = p.facts.own_entry if p.facts else None
        if me is None or not me.is_primary or not (me.slots or p.target.role == "primary"):
            continue
        if not base <= me.slot_count <= base + (1 if extra else 0):
            served = (
                f"{me.slot_count} slots ({format_ranges(me.slots)})" if me.slots else "no slots"
            )
            message = f"serves {served}; an even share is {share} of {shards} shards"
            problems.append(Problem(DEGRADED, ProblemKind.SLOTS, p.target.name, message))
    return problems
