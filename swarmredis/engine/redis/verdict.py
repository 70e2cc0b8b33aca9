"""The health verdict model and the rules every mode shares: pure, no I/O.

``engine.redis.health`` probes the nodes and calls ``assess`` with the mode's own judge
(``engine.modes.*.health``). Every problem carries a ``kind``, so nothing downstream reads
its message. The JSON form (``HealthReport.to_dict``) is documented in docs/status-json.md.

    healthy   exit 0  everything as planned
    degraded  exit 1  still serving: a replica or sentinel down, a failover, lag, memory
    down      exit 2  not serving: slots uncovered, cluster_state fail, no primary
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.replies import SlotRange, info_int, parse_info_fields
from swarmredis.gateway.endpoint import RedisEndpoint

SCHEMA_VERSION = 1
MEMORY_WARN = 0.9  # used_memory / maxmemory from which a node counts as degraded
LAG_WARN_BYTES = 1024 * 1024  # replica lag (offset difference) from which it counts


class ProblemKind(StrEnum):
    """What kind of problem: for monitors and for the engine's own decisions."""

    TASK = "task"  # the Swarm task is not running
    UNREACHABLE = "unreachable"  # no answer (TCP, TLS, auth or a command failed)
    MEMORY = "memory"  # used memory near maxmemory
    LINK = "link"  # a replica's link to its primary is down
    LAG = "lag"  # a replica lags behind its primary
    FAILOVER = "failover"  # roles differ from the plan after a failover (still replicated)
    ROLE = "role"  # a node has a role it must not have (several primaries, a replica alone)
    REPLICATION = "replication"  # a node replicates the wrong primary, or there is none
    CLUSTER_STATE = "cluster-state"  # cluster_state is not ok
    SLOTS = "slots"  # slots not served, suspected failing, or not as planned
    AGREEMENT = "agreement"  # nodes do not agree on the cluster configuration
    SENTINEL = "sentinel"  # a Sentinel's view differs, or it runs a failover
    QUORUM = "quorum"  # SENTINEL CKQUORUM refuses
    SETTINGS = "settings"  # a node runs with settings an interrupted bootstrap left


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
    host: str | None = None
    task_state: str | None = None
    server_name: str | None = None
    task_words: str = ""  # what Docker says of the task when it is not running


@dataclass(frozen=True)
class Problem:
    """Something not as planned: how bad, what kind, which node, and words for people."""

    severity: Status
    kind: ProblemKind
    node: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "kind": self.kind.value,
            "node": self.node,
            "message": self.message,
        }


@dataclass(frozen=True)
class Probe:
    """What one node answered (its facts), or at which stage reaching it failed."""

    target: HealthTarget
    stage: Literal["ok", "tcp", "tls", "auth", "command"] = "ok"
    error: str | None = None
    facts: NodeFacts | None = None

    @property
    def reachable(self) -> bool:
        return self.facts is not None

    @property
    def info(self) -> Mapping[str, str]:
        return self.facts.info if self.facts else {}

    @property
    def role(self) -> str | None:
        return self.facts.role.kind if self.facts else None


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
    keys: int | None = None  # in every database (INFO keyspace)
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

    mode: str
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


Verdict = tuple["ClusterHealth | None", list[Problem]]


class Judging(Protocol):
    """What health needs of a mode (``engine.modes.base.Mode`` has it): its name, whether
    its data nodes have cluster facts to read, and its own rules."""

    @property
    def name(self) -> str: ...

    @property
    def reads_cluster(self) -> bool: ...

    @property
    def settings(self) -> tuple[str, ...]:
        """The ``CONFIG GET`` settings its rules read on every data node."""
        ...

    def judge(self, probes: Sequence[Probe], lines: dict[str, NodeHealth]) -> Verdict:
        """Probes and their report lines in (lines get filled in), the cluster summary
        (cluster mode) and the mode's problems out."""
        ...


def key_count(info: Mapping[str, str]) -> int:
    """Keys in every database, from INFO's keyspace lines (``db0:keys=12,expires=0,...``)."""
    return sum(
        info_int(parse_info_fields(value), "keys")
        for field, value in info.items()
        if field.startswith("db") and field[2:].isdigit()
    )


def node_line(p: Probe) -> NodeHealth:
    """The report line of one probed node, with what every mode reports."""
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
    )
    facts = p.facts
    if facts is None:
        return line
    line.node_id = facts.node_id or None
    line.used_memory = info_int(facts.info, "used_memory", 0)
    line.maxmemory = info_int(facts.info, "maxmemory", 0)
    line.keys = key_count(facts.info)
    line.uptime_seconds = info_int(facts.info, "uptime_in_seconds", 0)
    if p.role == "replica":
        line.link_up = facts.link_up
    me = facts.own_entry
    if me is not None:
        line.slots = me.slots
    if facts.cluster_info is not None:
        line.cluster_state = facts.cluster_info.state
    if facts.sentinel:
        master = facts.sentinel
        line.sentinel = {
            "primary": f"{master.get('ip')}:{master.get('port')}",
            "flags": master.get("flags", ""),
            "other_sentinels": int(master.get("num-other-sentinels", "0")),
            "replicas": int(master.get("num-slaves", "0")),
            "quorum": int(master.get("quorum", "0")),
            "quorum_ok": facts.quorum_error is None,
        }
    return line


# the command that ends a failover's problems, in every one of them (docs/operations.md)
RESTORE_ROLES = "`swarmredis deploy STACKFILE` gives the planned roles back"


def common_problems(probes: Sequence[Probe]) -> list[Problem]:
    """What every mode checks: the task runs, the node answers, memory is not near full.

    A task ``starting`` (its container runs, Swarm's first health check is not due yet)
    counts as running when its node answers the probe: the probe (TLS handshake, AUTH,
    the mode's reads) asks more of the node than that health check (``PING`` over TLS)."""
    problems = []
    for p in probes:
        t = p.target
        if t.task_state not in (None, "running") and not (
            t.task_state == "starting" and p.reachable
        ):
            problems.append(
                Problem(
                    Status.DEGRADED,
                    ProblemKind.TASK,
                    t.name,
                    f"task is {t.task_state}" + (f": {t.task_words}" if t.task_words else ""),
                )
            )
        if not p.reachable:
            message = p.error or "unreachable"
            problems.append(Problem(Status.DEGRADED, ProblemKind.UNREACHABLE, t.name, message))
            continue
        used, limit = info_int(p.info, "used_memory"), info_int(p.info, "maxmemory")
        if limit and used >= MEMORY_WARN * limit:
            message = f"memory {used * 100 // limit}% of maxmemory"
            problems.append(Problem(Status.DEGRADED, ProblemKind.MEMORY, t.name, message))
    return problems


def lag_bytes(replica: Probe, primary: Probe) -> int | None:
    """How many bytes of the primary's replication stream the replica has not applied."""
    if not replica.reachable or not primary.reachable:
        return None
    offset = info_int(primary.info, "master_repl_offset", -1)
    done = info_int(replica.info, "slave_repl_offset", -1)
    return max(0, offset - done) if offset >= 0 and done >= 0 else None


def replica_problems(line: NodeHealth, primary: str | None) -> list[Problem]:
    """A replica's link down, or its lag over ``LAG_WARN_BYTES``."""
    problems = []
    if line.link_up is False:
        message = "replica link to its primary is down"
        problems.append(Problem(Status.DEGRADED, ProblemKind.LINK, line.name, message))
    if line.lag_bytes is not None and line.lag_bytes > LAG_WARN_BYTES:
        message = f"replica lags {line.lag_bytes} bytes behind {primary}"
        problems.append(Problem(Status.DEGRADED, ProblemKind.LAG, line.name, message))
    return problems


def assess(mode: Judging, probes: Sequence[Probe]) -> HealthReport:
    """Judge probes with the shared rules and the mode's own: per-node lines, cluster
    summary, problems, overall status."""
    lines = {p.target.name: node_line(p) for p in probes}
    cluster, own = mode.judge(probes, lines)
    problems = common_problems(probes) + own
    status = max((p.severity for p in problems), key=_RANK.__getitem__, default=Status.HEALTHY)
    return HealthReport(mode.name, status, list(lines.values()), problems, cluster)


def failover_only(report: HealthReport) -> bool:
    """Degraded only because roles were swapped by a failover (every shard replicated):
    serving as designed."""
    return report.status is Status.DEGRADED and all(
        p.kind is ProblemKind.FAILOVER for p in report.problems
    )


def without_standby(report: HealthReport, restarting: Iterable[str]) -> list[NodeHealth]:
    """The nodes of ``restarting`` that serve as primaries (with slots, in a cluster)
    while no replica is linked to them: restarting one takes its data offline."""
    linked = {n.replicates for n in report.nodes if n.role == "replica" and n.link_up}
    names = set(restarting)
    return [
        n
        for n in report.nodes
        if n.name in names
        and n.role == "primary"
        and n.planned_role != "sentinel"
        and (n.slots or report.cluster is None)
        and n.name not in linked
    ]
