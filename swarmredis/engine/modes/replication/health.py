"""Replication mode's health rules (pure): one primary, linked replicas, agreeing Sentinels."""

from __future__ import annotations

from collections.abc import Sequence

from swarmredis.engine.modes.replication.plan import refused_promotions
from swarmredis.engine.redis.verdict import (
    RESTORE_ROLES,
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


def judge_replication(probes: Sequence[Probe], lines: dict[str, NodeHealth]) -> Verdict:
    """Problems of the data nodes and the Sentinels (no cluster summary)."""
    data = [p for p in probes if p.target.role != "sentinel"]
    primaries = [p for p in data if p.reachable and p.role == "primary"]
    if not primaries:
        return None, [Problem(DOWN, ProblemKind.REPLICATION, None, "no reachable primary")]
    problems = []
    linked: dict[str, str] = {}  # replicas linked to the primary: run ids by name
    if len(primaries) > 1:
        names = ", ".join(p.target.name for p in primaries)
        problems.append(Problem(DEGRADED, ProblemKind.ROLE, None, f"several primaries: {names}"))
    primary = primaries[0]
    if primary.target.role != "primary":
        message = f"failover: primary now (planned replica); {RESTORE_ROLES}"
        problems.append(Problem(DEGRADED, ProblemKind.FAILOVER, primary.target.name, message))
    for p in data:
        if p is primary or not p.reachable:
            continue
        line = lines[p.target.name]
        if p.info.get("master_replid") == primary.info.get("master_replid"):
            line.replicates = primary.target.name
            line.lag_bytes = lag_bytes(p, primary)
            if line.link_up:
                linked[p.target.name] = p.info.get("run_id", "")
        else:
            line.replicates = f"{p.info.get('master_host')}:{p.info.get('master_port')}"
            message = f"does not replicate {primary.target.name}"
            problems.append(Problem(DEGRADED, ProblemKind.REPLICATION, p.target.name, message))
        problems += replica_problems(line, primary.target.name)
    return None, problems + _sentinel_problems(probes, primary, linked)


def _sentinel_problems(
    probes: Sequence[Probe], primary: Probe, linked: dict[str, str]
) -> list[Problem]:
    """What each Sentinel gets wrong: the primary, its flags, a failover it runs, the
    quorum, and a Sentinel that could promote none of the linked replicas (it learns
    replicas and their run ids from INFO every 10 s: a failover now would be refused)."""
    problems = []
    for p in probes:
        if p.target.role != "sentinel" or p.facts is None:
            continue
        name, master = p.target.name, p.facts.sentinel

        def add(kind: ProblemKind, message: str, name: str = name) -> None:
            problems.append(Problem(DEGRADED, kind, name, message))

        flags = set(master.get("flags", "").split(","))
        if master.get("runid") != primary.info.get("run_id"):
            add(ProblemKind.SENTINEL, f"does not see {primary.target.name} as primary")
        if flags & {"s_down", "o_down", "disconnected"}:
            add(ProblemKind.SENTINEL, f"sees the primary as {master.get('flags')}")
        if "failover_in_progress" in flags:
            state = master.get("failover-state", "unknown state")
            add(ProblemKind.SENTINEL, f"runs a failover ({state})")
        if p.facts.quorum_error:
            add(ProblemKind.QUORUM, p.facts.quorum_error)
        # priority is the stack's to choose (and a handover's to change): not judged here
        refused = refused_promotions(p.facts, linked, priority_counts=False)
        if linked and len(refused) == len(linked):
            why = "; ".join(f"cannot promote {node}: {r}" for node, r in refused.items())
            add(ProblemKind.SENTINEL, f"could promote no replica if the primary failed: {why}")
    return problems
