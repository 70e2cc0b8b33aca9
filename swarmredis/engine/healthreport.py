"""The health report and the rules that judge it: pure, no I/O.

``engine.health`` probes the nodes and calls ``assess`` on what they answered. The JSON
form (``HealthReport.to_dict``) is documented in docs/status-json.md.

    healthy   exit 0  everything as planned
    degraded  exit 1  still serving: a replica or sentinel down, a failover, lag, memory
    down      exit 2  not serving: slots uncovered, cluster_state fail, no primary
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from swarmredis.engine.clusterplan import config_signature
from swarmredis.engine.redisinfo import (
    CLUSTER_SLOTS,
    ClusterInfo,
    ClusterNode,
    SlotRange,
    format_ranges,
    info_int,
    parse_cluster_info,
)
from swarmredis.gateway.redis import RedisEndpoint

SCHEMA_VERSION = 1
MEMORY_WARN = 0.9  # used_memory / maxmemory from which a node counts as degraded
LAG_WARN_BYTES = 1024 * 1024  # replica lag (offset difference) from which it counts
Mode = Literal["cluster", "replication", "standalone"]


class Status(StrEnum):
    """Overall verdict, ordered from best to worst."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def exit_code(self) -> int:
        return {"healthy": 0, "degraded": 1, "down": 2}[self.value]


_RANK = {Status.HEALTHY: 0, Status.DEGRADED: 1, Status.DOWN: 2}


@dataclass(frozen=True)
class HealthTarget:
    """A planned node to check. ``host`` and ``task_state`` come from Docker, if known."""

    name: str
    endpoint: RedisEndpoint
    role: Literal["primary", "replica", "sentinel"]
    primary: str | None = None
    slots: tuple[SlotRange, ...] = ()
    host: str | None = None
    task_state: str | None = None
    server_name: str | None = None


@dataclass(frozen=True)
class Problem:
    """Something not as planned, and how bad it is."""

    severity: Status
    node: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity.value, "node": self.node, "message": self.message}


@dataclass
class Probe:
    """What one node answered (raw facts, parsed), or how reaching it failed."""

    target: HealthTarget
    stage: Literal["ok", "tcp", "tls", "auth", "command"] = "ok"
    error: str | None = None
    info: Mapping[str, str] = field(default_factory=dict)
    role: str | None = None
    node_id: str | None = None
    cluster_nodes: tuple[ClusterNode, ...] = ()
    cluster_info: ClusterInfo | None = None
    sentinel: Mapping[str, str] = field(default_factory=dict)
    quorum_error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.stage == "ok"

    @property
    def me(self) -> ClusterNode | None:
        return next((n for n in self.cluster_nodes if n.myself), None)


@dataclass
class NodeHealth:
    """The report line of one node."""

    name: str
    planned_role: str
    endpoint: str
    host: str | None
    task_state: str | None
    reachable: bool
    tls_ok: bool
    auth_ok: bool
    error: str | None
    role: str | None = None
    node_id: str | None = None
    replicates: str | None = None
    link_up: bool | None = None
    lag_bytes: int | None = None
    slots: tuple[SlotRange, ...] = ()
    used_memory: int | None = None
    maxmemory: int | None = None
    uptime_seconds: int | None = None
    cluster_state: str | None = None
    sentinel: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dict(vars(self))
        data["slots"] = [list(r) for r in self.slots]
        data["slot_count"] = sum(b - a + 1 for a, b in self.slots)
        return data


@dataclass
class ClusterHealth:
    """The cluster as the most up-to-date reachable node sees it."""

    state: str
    slots_assigned: int
    slots_ok: int
    slots_pfail: int
    slots_fail: int
    known_nodes: int
    current_epoch: int
    nodes_agree: bool
    seen_by: str

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class HealthReport:
    """Verdict, per-node lines, cluster summary and the problems behind the verdict."""

    mode: Mode
    status: Status
    nodes: list[NodeHealth]
    problems: list[Problem]
    cluster: ClusterHealth | None = None
    stack: str | None = None
    checked_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (schema: docs/status-json.md)."""
        return {
            "schema": SCHEMA_VERSION,
            "stack": self.stack,
            "mode": self.mode,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "checked_at": self.checked_at,
            "problems": [p.to_dict() for p in self.problems],
            "cluster": self.cluster.to_dict() if self.cluster else None,
            "nodes": [n.to_dict() for n in self.nodes],
        }


def _node_line(p: Probe) -> NodeHealth:
    t = p.target
    line = NodeHealth(
        name=t.name,
        planned_role=t.role,
        endpoint=str(t.endpoint),
        host=t.host,
        task_state=t.task_state,
        reachable=p.stage != "tcp",
        tls_ok=p.stage not in ("tcp", "tls"),
        auth_ok=p.stage in ("ok", "command"),
        error=p.error,
        role=p.role,
        node_id=p.node_id,
    )
    if not p.reachable:
        return line
    line.used_memory = info_int(p.info, "used_memory", 0)
    line.maxmemory = info_int(p.info, "maxmemory", 0)
    line.uptime_seconds = info_int(p.info, "uptime_in_seconds", 0)
    if p.role == "replica":
        line.link_up = p.info.get("master_link_status") == "up"
    me = p.me
    if me is not None:
        line.slots = me.slots
    if p.cluster_info is not None:
        line.cluster_state = p.cluster_info.state
    if p.sentinel:
        line.sentinel = {
            "primary": f"{p.sentinel.get('ip')}:{p.sentinel.get('port')}",
            "flags": p.sentinel.get("flags", ""),
            "other_sentinels": int(p.sentinel.get("num-other-sentinels", "0")),
            "replicas": int(p.sentinel.get("num-slaves", "0")),
            "quorum": int(p.sentinel.get("quorum", "0")),
            "quorum_ok": p.quorum_error is None,
        }
    return line


def _common_problems(probes: Sequence[Probe]) -> list[Problem]:
    problems = []
    for p in probes:
        t = p.target
        if t.task_state is not None and t.task_state != "running":
            problems.append(Problem(Status.DEGRADED, t.name, f"task is {t.task_state}"))
        if not p.reachable:
            problems.append(Problem(Status.DEGRADED, t.name, p.error or "unreachable"))
            continue
        used, limit = info_int(p.info, "used_memory"), info_int(p.info, "maxmemory")
        if limit and used >= MEMORY_WARN * limit:
            problems.append(
                Problem(Status.DEGRADED, t.name, f"memory {used * 100 // limit}% of maxmemory")
            )
    return problems


def _lag(replica: Probe, primary: Probe) -> int | None:
    if not replica.reachable or not primary.reachable:
        return None
    offset = info_int(primary.info, "master_repl_offset", -1)
    done = info_int(replica.info, "slave_repl_offset", -1)
    return max(0, offset - done) if offset >= 0 and done >= 0 else None


def _replica_problems(line: NodeHealth, primary: str | None) -> list[Problem]:
    problems = []
    if line.link_up is False:
        problems.append(Problem(Status.DEGRADED, line.name, "replica link to its primary is down"))
    if line.lag_bytes is not None and line.lag_bytes > LAG_WARN_BYTES:
        problems.append(
            Problem(
                Status.DEGRADED, line.name, f"replica lags {line.lag_bytes} bytes behind {primary}"
            )
        )
    return problems


def assess(mode: Mode, probes: Sequence[Probe]) -> HealthReport:
    """Judge probes: per-node lines, cluster summary, problems, overall status."""
    lines = {p.target.name: _node_line(p) for p in probes}
    problems = _common_problems(probes)
    cluster = None
    if mode == "cluster":
        cluster, more = _judge_cluster(probes, lines)
    elif mode == "replication":
        more = _judge_replication(probes, lines)
    else:
        more = _judge_standalone(probes)
    problems += more
    status = max((p.severity for p in problems), key=_RANK.__getitem__, default=Status.HEALTHY)
    return HealthReport(mode, status, list(lines.values()), problems, cluster)


def _cluster_summary(reachable: Sequence[Probe], ids: Sequence[str]) -> ClusterHealth:
    ref = max(
        reachable,
        key=lambda p: (p.cluster_info.current_epoch if p.cluster_info else -1, -reachable.index(p)),
    )
    info = ref.cluster_info or parse_cluster_info("")
    signatures = {config_signature(p.cluster_nodes, ids) for p in reachable}
    return ClusterHealth(
        state="ok"
        if all(p.cluster_info and p.cluster_info.state == "ok" for p in reachable)
        else info.state
        if info.state != "ok"
        else "partial",
        slots_assigned=info.slots_assigned,
        slots_ok=info.slots_ok,
        slots_pfail=info.slots_pfail,
        slots_fail=info.slots_fail,
        known_nodes=info.known_nodes,
        current_epoch=info.current_epoch,
        nodes_agree=len(signatures) == 1,
        seen_by=ref.target.name,
    )


def _judge_cluster(
    probes: Sequence[Probe], lines: dict[str, NodeHealth]
) -> tuple[ClusterHealth | None, list[Problem]]:
    reachable = [p for p in probes if p.reachable and p.node_id]
    if not reachable:
        return None, [Problem(Status.DOWN, None, "no cluster node is reachable")]
    by_id = {p.node_id: p for p in reachable if p.node_id}
    ids = [p.node_id for p in reachable if p.node_id]
    summary = _cluster_summary(reachable, ids)
    problems = _coverage_problems(summary)
    if not summary.nodes_agree:
        problems.append(Problem(Status.DEGRADED, None, "nodes disagree on the cluster config"))
    ref = next(p for p in reachable if p.target.name == summary.seen_by)
    problems += _unserved_slots(ref, by_id)
    for p in reachable:
        problems += _cluster_node_problems(p, lines[p.target.name], by_id)
    return summary, problems


def _coverage_problems(summary: ClusterHealth) -> list[Problem]:
    problems = []
    if summary.state != "ok":
        problems.append(Problem(Status.DOWN, None, f"cluster_state is {summary.state}"))
    if summary.slots_ok + summary.slots_pfail < CLUSTER_SLOTS:
        problems.append(
            Problem(Status.DOWN, None, f"only {summary.slots_ok}/{CLUSTER_SLOTS} slots are served")
        )
    elif summary.slots_pfail:
        problems.append(
            Problem(
                Status.DEGRADED, None, f"{summary.slots_pfail} slots on nodes suspected failing"
            )
        )
    return problems


def _unserved_slots(ref: Probe, by_id: Mapping[str, Probe]) -> list[Problem]:
    """Slots whose owner (as the reference node sees it) does not answer us."""
    return [
        Problem(
            Status.DOWN,
            None,
            f"slots {format_ranges(n.slots)} are served by"
            f" {n.node_id[:8]} at {n.ip}:{n.port}, which does not answer",
        )
        for n in ref.cluster_nodes
        if n.slots and n.is_primary and n.node_id not in by_id
    ]


def _cluster_node_problems(p: Probe, line: NodeHealth, by_id: Mapping[str, Probe]) -> list[Problem]:
    me, t = p.me, p.target
    problems: list[Problem] = []
    if me is None:
        return problems
    if me.is_replica and me.primary_id:
        primary = by_id.get(me.primary_id)
        line.replicates = primary.target.name if primary else me.primary_id[:8]
        line.lag_bytes = _lag(p, primary) if primary else None
        problems += _replica_problems(line, line.replicates)
    if t.role == "replica" and me.is_primary and me.slots:
        problems.append(
            Problem(
                Status.DEGRADED, t.name, f"failover: serves shard {t.primary} (planned replica)"
            )
        )
    if t.role == "primary" and me.is_replica:
        problems.append(
            Problem(Status.DEGRADED, t.name, f"failover: now a replica of {line.replicates}")
        )
    if t.role == "primary" and me.is_primary and t.slots and me.slots != t.slots:
        problems.append(
            Problem(
                Status.DEGRADED,
                t.name,
                f"serves slots {format_ranges(me.slots)}, planned {format_ranges(t.slots)}",
            )
        )
    return problems


def _judge_replication(probes: Sequence[Probe], lines: dict[str, NodeHealth]) -> list[Problem]:
    data = [p for p in probes if p.target.role != "sentinel"]
    primaries = [p for p in data if p.reachable and p.role == "primary"]
    if not primaries:
        return [Problem(Status.DOWN, None, "no reachable primary")]
    problems = []
    if len(primaries) > 1:
        names = ", ".join(p.target.name for p in primaries)
        problems.append(Problem(Status.DEGRADED, None, f"several primaries: {names}"))
    primary = primaries[0]
    if primary.target.role != "primary":
        problems.append(
            Problem(Status.DEGRADED, primary.target.name, "failover: primary now (planned replica)")
        )
    for p in data:
        if p is primary or not p.reachable:
            continue
        line = lines[p.target.name]
        if p.info.get("master_replid") == primary.info.get("master_replid"):
            line.replicates = primary.target.name
            line.lag_bytes = _lag(p, primary)
        else:
            line.replicates = f"{p.info.get('master_host')}:{p.info.get('master_port')}"
            problems.append(
                Problem(Status.DEGRADED, p.target.name, f"does not replicate {primary.target.name}")
            )
        problems += _replica_problems(line, primary.target.name)
    problems += _sentinel_problems(probes, primary)
    return problems


def _sentinel_problems(probes: Sequence[Probe], primary: Probe) -> list[Problem]:
    problems = []
    for p in probes:
        if p.target.role != "sentinel" or not p.reachable:
            continue
        flags = set(p.sentinel.get("flags", "").split(","))
        if p.sentinel.get("runid") != primary.info.get("run_id"):
            problems.append(
                Problem(
                    Status.DEGRADED, p.target.name, f"does not see {primary.target.name} as primary"
                )
            )
        if flags & {"s_down", "o_down", "disconnected"}:
            problems.append(
                Problem(
                    Status.DEGRADED, p.target.name, f"sees the primary as {p.sentinel.get('flags')}"
                )
            )
        if "failover_in_progress" in flags:
            state = p.sentinel.get("failover-state", "unknown state")
            problems.append(Problem(Status.DEGRADED, p.target.name, f"runs a failover ({state})"))
        if p.quorum_error:
            problems.append(Problem(Status.DEGRADED, p.target.name, p.quorum_error))
    return problems


def _judge_standalone(probes: Sequence[Probe]) -> list[Problem]:
    problems = []
    for p in probes:
        if not p.reachable:
            problems.append(Problem(Status.DOWN, p.target.name, "the only node is unreachable"))
        elif p.role != "primary":
            problems.append(Problem(Status.DOWN, p.target.name, f"is a {p.role}, not a primary"))
    return problems
