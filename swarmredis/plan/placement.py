"""Host-aware placement: logical nodes -> Swarm nodes, with anti-affinity.

Rules, in order of strength:

1. Only eligible Swarm nodes: they match the stack's constraints, are
   ``active`` and ``ready``, and carry the spread label when spreading by label.
2. Members of one shard (a primary and its replicas) sit in pairwise distinct
   spread domains, so losing a domain never takes a primary with its replicas.
   If there are fewer domains than a shard has members the planner refuses
   (``PlacementError``), or with ``allow_colocation`` warns and minimises sharing.
3. Stability: a node keeps its previous Swarm node while that is still valid,
   so re-planning or adding hosts moves nothing.
4. Balance, greedily: primaries spread evenly over domains and hosts, then the
   total load; a replica prefers the domain after its primary's (round robin),
   sentinels spread over domains. Ties break on sorted names: deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from swarmredis.constants import CLUSTER_SLOTS
from swarmredis.errors import PlacementError
from swarmredis.plan.observe import SwarmNode
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.rules import Constraint
from swarmredis.stackfile.topology import Layout, LogicalNode, topology


@dataclass(frozen=True)
class Assignment:
    """Where every logical node runs."""

    nodes: Mapping[str, str]  # logical node -> Swarm node id
    domains: Mapping[str, str]  # logical node -> spread domain value
    hostnames: Mapping[str, str]  # logical node -> hostname of its Swarm node
    addresses: Mapping[str, str]  # logical node -> address of its Swarm node (Status.Addr)
    warnings: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()  # logical nodes left where they were


def matches(node: SwarmNode, constraint: Constraint) -> bool:
    """Whether ``node`` satisfies one placement constraint, as Swarm evaluates it."""
    attribute = constraint.attribute
    if attribute == "node.id":
        actual: str | None = node.id
    elif attribute == "node.hostname":
        actual = node.hostname
    elif attribute == "node.role":
        actual = node.role
    else:
        actual = node.labels.get(attribute.removeprefix("node.labels."))
    # Swarm compares case-insensitively; a missing label never equals a value.
    equal = actual is not None and actual.lower() == constraint.value.lower()
    return equal if constraint.operator == "==" else not equal


def domain_of(node: SwarmNode, spread: str) -> str | None:
    """The spread domain of ``node``: its id, hostname or the value of a label."""
    if spread == "node.id":
        return node.id
    if spread == "node.hostname":
        return node.hostname
    return node.labels.get(spread.removeprefix("node.labels."))


def eligible_nodes(
    stack: Stack, swarm_nodes: Sequence[SwarmNode]
) -> tuple[list[SwarmNode], list[str]]:
    """Swarm nodes the stack may use (sorted by domain, hostname, id) and why others not."""
    constraints = stack.placement.parsed_constraints()
    spread = stack.placement.spread
    eligible, notes = [], []
    for node in sorted(swarm_nodes, key=lambda n: (n.hostname, n.id)):
        if node.availability != "active" or node.state != "ready":
            notes.append(f"{node.hostname} ({node.id}) is {node.availability}/{node.state}")
        elif not all(matches(node, c) for c in constraints):
            continue
        elif domain_of(node, spread) is None:
            notes.append(f"{node.hostname} ({node.id}) has no {spread} label")
        else:
            eligible.append(node)
    eligible.sort(key=lambda n: (domain_of(n, spread) or "", n.hostname, n.id))
    return eligible, notes


def slot_ranges(shards: int) -> tuple[tuple[int, int], ...]:
    """Cluster slot range (inclusive) of each shard; the first shards get the extra slots."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    base, extra = divmod(CLUSTER_SLOTS, shards)
    ranges, first = [], 0
    for k in range(shards):
        size = base + (1 if k < extra else 0)
        ranges.append((first, first + size - 1))
        first += size
    return tuple(ranges)


def planned_slots(primaries: Sequence[str]) -> dict[str, tuple[int, int]]:
    """Each cluster primary's slot range, by shard order (the one place slots are planned)."""
    return dict(zip(primaries, slot_ranges(len(primaries)), strict=True)) if primaries else {}


def group_of(node: LogicalNode) -> str | None:
    """Anti-affinity group: the shard's primary for redis nodes, none for sentinels."""
    if node.kind != "redis":
        return None
    return node.primary or node.name


@dataclass
class _State:
    domain: dict[str, str]  # swarm node id -> domain
    order: list[str]  # sorted domains
    host: Counter[str] = field(default_factory=Counter)
    zone: Counter[str] = field(default_factory=Counter)
    primary_host: Counter[str] = field(default_factory=Counter)
    primary_zone: Counter[str] = field(default_factory=Counter)
    sentinel_host: Counter[str] = field(default_factory=Counter)
    sentinel_zone: Counter[str] = field(default_factory=Counter)
    groups: dict[str, Counter[str]] = field(default_factory=dict)  # group -> domains
    group_hosts: dict[str, Counter[str]] = field(default_factory=dict)  # group -> hosts
    placed: dict[str, str] = field(default_factory=dict)

    def conflicts(self, node: LogicalNode, swarm_id: str) -> int:
        group = group_of(node)
        if group is None:
            return 0
        return self.groups.get(group, Counter())[self.domain[swarm_id]]

    def shared_host(self, node: LogicalNode, swarm_id: str) -> int:
        group = group_of(node)
        if group is None:
            return 0
        return self.group_hosts.get(group, Counter())[swarm_id]

    def put(self, node: LogicalNode, swarm_id: str) -> None:
        zone = self.domain[swarm_id]
        self.placed[node.name] = swarm_id
        self.host[swarm_id] += 1
        self.zone[zone] += 1
        if node.role == "primary":
            self.primary_host[swarm_id] += 1
            self.primary_zone[zone] += 1
        if node.kind == "sentinel":
            self.sentinel_host[swarm_id] += 1
            self.sentinel_zone[zone] += 1
        group = group_of(node)
        if group is not None:
            self.groups.setdefault(group, Counter())[zone] += 1
            self.group_hosts.setdefault(group, Counter())[swarm_id] += 1


def place(
    stack: Stack,
    swarm_nodes: Sequence[SwarmNode],
    previous: Mapping[str, str] | None = None,
    allow_colocation: bool = False,
    layout: Layout | None = None,
) -> Assignment:
    """Assign every logical node of ``stack`` (laid out as ``layout``) to a Swarm node id
    (see the module doc)."""
    eligible, notes = eligible_nodes(stack, swarm_nodes)
    if not eligible:
        raise PlacementError(_no_nodes_message(stack, swarm_nodes, notes))
    state = _State(
        domain={n.id: domain_of(n, stack.placement.spread) or "" for n in eligible},
        order=sorted({domain_of(n, stack.placement.spread) or "" for n in eligible}),
    )
    warnings = [f"not used: {note}" for note in notes]
    colocate = _check_domains(stack, state.order, allow_colocation, warnings)
    logical = topology(stack, layout)
    kept = _keep_previous(logical, previous or {}, state, colocate)
    for node in logical:
        if node.name not in state.placed:
            state.put(node, _best(node, eligible, state, colocate))
    if colocate:
        warnings += _colocation_notes(logical, state)
    by_id = {n.id: n for n in eligible}
    chosen = {n.name: by_id[state.placed[n.name]] for n in logical}
    return Assignment(
        nodes={name: node.id for name, node in chosen.items()},
        domains={name: state.domain[node.id] for name, node in chosen.items()},
        hostnames={name: node.hostname for name, node in chosen.items()},
        addresses={name: node.addr for name, node in chosen.items()},
        warnings=tuple(warnings),
        kept=tuple(kept),
    )


def _check_domains(
    stack: Stack, domains: list[str], allow_colocation: bool, warnings: list[str]
) -> bool:
    """Whether colocation is needed; refuses when it is needed and not allowed."""
    need = 1 + stack.replicas
    if len(domains) >= need:
        return False
    message = (
        f"anti-affinity needs {need} spread domains ({stack.placement.spread}) so that a "
        f"primary and its {stack.replicas} replica(s) never share one, but only "
        f"{len(domains)} are available: {', '.join(domains)}"
    )
    if not allow_colocation:
        raise PlacementError(
            message,
            hint="add eligible hosts or spread labels, lower replicas,"
            " or pass --allow-colocation to accept the risk",
        )
    warnings.append(message + "; colocating as allowed")
    return True


def _keep_previous(
    logical: Sequence[LogicalNode],
    previous: Mapping[str, str],
    state: _State,
    colocate: bool,
) -> list[str]:
    kept = []
    for node in logical:
        swarm_id = previous.get(node.name)
        if swarm_id not in state.domain:
            continue  # never placed, or its host is gone / no longer eligible
        if state.conflicts(node, swarm_id) and not colocate:
            continue
        state.put(node, swarm_id)
        kept.append(node.name)
    return kept


def _best(node: LogicalNode, eligible: Sequence[SwarmNode], state: _State, colocate: bool) -> str:
    def cost(candidate: SwarmNode) -> tuple[int | str, ...]:
        sid, zone = candidate.id, state.domain[candidate.id]
        rank = state.order.index(zone)
        if node.kind == "sentinel":
            return (
                state.sentinel_zone[zone],
                state.sentinel_host[sid],
                state.zone[zone],
                state.host[sid],
                rank,
                candidate.hostname,
                sid,
            )
        primary = node.role == "primary"
        if node.primary is not None and node.primary in state.placed:
            home = state.order.index(state.domain[state.placed[node.primary]])
            rank = (rank - home) % len(state.order)
        return (
            state.conflicts(node, sid),
            state.shared_host(node, sid),
            state.primary_zone[zone] if primary else 0,
            state.primary_host[sid] if primary else 0,
            state.zone[zone],
            state.host[sid],
            rank,
            candidate.hostname,
            sid,
        )

    candidates = [c for c in eligible if colocate or not state.conflicts(node, c.id)]
    return min(candidates, key=cost).id


def _colocation_notes(logical: Sequence[LogicalNode], state: _State) -> list[str]:
    notes = []
    for group, zones in sorted(state.groups.items()):
        shared = sorted(zone for zone, count in zones.items() if count > 1)
        for zone in shared:
            members = [
                n.name
                for n in logical
                if group_of(n) == group and state.domain[state.placed[n.name]] == zone
            ]
            notes.append(f"{', '.join(members)} of one shard share spread domain {zone}")
    return notes


def _no_nodes_message(stack: Stack, swarm_nodes: Sequence[SwarmNode], notes: list[str]) -> str:
    constraints = " and ".join(stack.placement.constraints) or "no constraints"
    detail = "; ".join(notes) if notes else "none matches"
    return (
        f"no eligible Swarm node for stack {stack.name}: {len(swarm_nodes)} node(s) "
        f"checked against {constraints} (active, ready): {detail}"
    )
