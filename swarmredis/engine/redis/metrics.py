"""Prometheus metrics of a stack from one health check (pure).

Input: the probes of every node (their INFO), the verdict the mode's rules gave them
(``verdict.assess``: roles, links, lag, the cluster summary, problems), and the store's
certificates. Output: metric families for ``prometheus_client``; the names and labels are
documented in docs/monitoring.md, and docs/monitoring/alerts.yml is written against them.

A node that did not answer is ``swarmredis_node_up 0`` with nothing else of its own: the
scrape itself succeeds (Prometheus's ``up`` stays 1), so an alert can name the node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from swarmredis.engine.redis.verdict import HealthReport, NodeHealth, Probe, Status
from swarmredis.pki.status import CertInfo

PREFIX = "swarmredis"
NODE_LABELS = ("stack", "node", "planned_role", "host")

# INFO fields exported as they are: (metric, kind, help, INFO field)
_INFO_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    (
        "connected_clients",
        "gauge",
        "Client connections (INFO connected_clients).",
        "connected_clients",
    ),
    ("connected_replicas", "gauge", "Replicas connected to this node.", "connected_slaves"),
    (
        "commands_per_second",
        "gauge",
        "Instantaneous operations per second.",
        "instantaneous_ops_per_sec",
    ),
    (
        "commands_processed",
        "counter",
        "Commands processed since start.",
        "total_commands_processed",
    ),
    ("keyspace_hits", "counter", "Successful key lookups since start.", "keyspace_hits"),
    ("keyspace_misses", "counter", "Failed key lookups since start.", "keyspace_misses"),
    ("evicted_keys", "counter", "Keys evicted for maxmemory since start.", "evicted_keys"),
    ("expired_keys", "counter", "Keys expired since start.", "expired_keys"),
    ("replication_offset_bytes", "gauge", "Replication offset.", "master_repl_offset"),
)


@dataclass(frozen=True)
class Scrape:
    """One scrape's input."""

    stack: str
    report: HealthReport
    probes: Sequence[Probe]
    certificates: Sequence[CertInfo]
    now: datetime
    duration_s: float


def families(scrape: Scrape) -> list[Metric]:
    """Every metric family of one scrape, in a stable order."""
    lines = {line.name: line for line in scrape.report.nodes}
    by_name = {p.target.name: p for p in scrape.probes}
    found: list[Metric] = []
    found += _node_families(scrape.stack, lines, by_name)
    found += _stack_families(scrape)
    found += _certificate_families(scrape)
    return found


def _node_labels(stack: str, line: NodeHealth) -> list[str]:
    return [stack, line.name, line.planned_role, line.host or ""]


def _gauge(name: str, help_text: str, labels: Sequence[str] = NODE_LABELS) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", help_text, labels=list(labels))


def _node_families(
    stack: str, lines: Mapping[str, NodeHealth], probes: Mapping[str, Probe]
) -> Iterator[Metric]:
    up = _gauge("node_up", "1 if the node answered this scrape (TLS, AUTH and commands), else 0.")
    role = _gauge("node_role", "1 for the role the node answers as.", (*NODE_LABELS, "role"))
    planned = _gauge(
        "node_role_as_planned",
        "1 if the node answers in its planned role; 0 after a failover (deploy gives it back).",
    )
    for line in lines.values():
        labels = _node_labels(stack, line)
        up.add_metric(labels, 1.0 if line.reachable else 0.0)
        if line.reachable and line.role:
            role.add_metric([*labels, line.role], 1.0)
            planned.add_metric(labels, 1.0 if line.role == line.planned_role else 0.0)
    yield from (up, role, planned)
    yield from _line_families(stack, lines)
    yield from _info_families(stack, lines, probes)


def _line_families(stack: str, lines: Mapping[str, NodeHealth]) -> Iterator[Metric]:
    """What the verdict's per-node lines hold (only where the node has it)."""
    values: tuple[tuple[str, str, Callable[[NodeHealth], float | None]], ...] = (
        ("memory_used_bytes", "Memory used by Redis (INFO used_memory).", lambda n: n.used_memory),
        ("memory_max_bytes", "maxmemory (0: no limit).", lambda n: n.maxmemory),
        ("keys", "Keys in every database.", lambda n: n.keys),
        ("uptime_seconds", "Seconds since the server started.", lambda n: n.uptime_seconds),
        (
            "replica_link_up",
            "A replica's link to its primary: 1 up, 0 down.",
            lambda n: None if n.link_up is None else float(n.link_up),
        ),
        ("replication_lag_bytes", "Bytes a replica is behind its primary.", lambda n: n.lag_bytes),
    )
    for name, help_text, get in values:
        family = _gauge(name, help_text)
        for line in lines.values():
            value = get(line) if line.reachable else None
            if value is not None:
                family.add_metric(_node_labels(stack, line), float(value))
        yield family


def _info_families(
    stack: str, lines: Mapping[str, NodeHealth], probes: Mapping[str, Probe]
) -> Iterator[Metric]:
    for name, kind, help_text, field in _INFO_FIELDS:
        family: GaugeMetricFamily | CounterMetricFamily
        if kind == "counter":
            family = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=list(NODE_LABELS))
        else:
            family = _gauge(name, help_text)
        for line in lines.values():
            raw = probes[line.name].info.get(field) if line.name in probes else None
            value = _number(raw)
            if value is not None:
                family.add_metric(_node_labels(stack, line), value)
        yield family


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _stack_families(scrape: Scrape) -> Iterator[Metric]:
    report, stack = scrape.report, scrape.stack
    status = _gauge(
        "stack_status",
        "1 for the stack's verdict (as `swarmredis status`).",
        ("stack", "mode", "status"),
    )
    for value in Status:
        status.add_metric([stack, report.mode, value.value], float(report.status is value))
    problems = _gauge("stack_problems", "Problems behind the verdict.", ("stack",))
    problems.add_metric([stack], float(len(report.problems)))
    alone = _gauge(
        "primaries_without_linked_replica",
        "Primaries with no replica linked to them, in a stack that plans replicas.",
        ("stack",),
    )
    alone.add_metric([stack], float(len(primaries_alone(report.nodes))))
    took = _gauge("scrape_duration_seconds", "How long this scrape took.", ("stack",))
    took.add_metric([stack], scrape.duration_s)
    yield from (status, problems, alone, took)
    yield from _sentinel_families(scrape)
    if report.cluster is not None:
        yield from _cluster_families(stack, report)


def primaries_alone(nodes: Sequence[NodeHealth]) -> list[str]:
    """Nodes answering as primary with no linked replica, where the stack plans replicas."""
    if not any(n.planned_role == "replica" for n in nodes):
        return []
    linked = {n.replicates for n in nodes if n.role == "replica" and n.link_up}
    return [n.name for n in nodes if n.role == "primary" and n.name not in linked]


def _sentinel_families(scrape: Scrape) -> Iterator[Metric]:
    quorum = _gauge(
        "sentinel_quorum_ok", "1 if this Sentinel reaches its quorum (SENTINEL CKQUORUM)."
    )
    for probe in scrape.probes:
        facts = probe.facts
        if facts is not None and facts.role.kind == "sentinel":
            line = next(n for n in scrape.report.nodes if n.name == probe.target.name)
            quorum.add_metric(_node_labels(scrape.stack, line), float(facts.quorum_error is None))
    yield quorum


def _cluster_families(stack: str, report: HealthReport) -> Iterator[Metric]:
    cluster = report.cluster
    assert cluster is not None
    ok = _gauge("cluster_state_ok", "1 if cluster_state is ok.", ("stack",))
    ok.add_metric([stack], float(cluster.state == "ok"))
    slots = _gauge("cluster_slots", "Hash slots by state (of 16384).", ("stack", "state"))
    for state, count in (
        ("assigned", cluster.slots_assigned),
        ("ok", cluster.slots_ok),
        ("pfail", cluster.slots_pfail),
        ("fail", cluster.slots_fail),
    ):
        slots.add_metric([stack, state], float(count))
    known = _gauge("cluster_known_nodes", "Nodes the cluster knows.", ("stack",))
    known.add_metric([stack], float(cluster.known_nodes))
    agree = _gauge("cluster_nodes_agree", "1 if every node sees the same slot map.", ("stack",))
    agree.add_metric([stack], float(cluster.nodes_agree))
    yield from (ok, slots, known, agree)


def _certificate_families(scrape: Scrape) -> Iterator[Metric]:
    expiry = _gauge(
        "certificate_expiry_seconds",
        "Seconds until the certificate expires (negative: expired), from the store.",
        ("stack", "kind", "name"),
    )
    for cert in scrape.certificates:
        if cert.not_after is not None:
            left = (cert.not_after - scrape.now).total_seconds()
            expiry.add_metric([scrape.stack, cert.kind, cert.name], left)
    yield expiry
