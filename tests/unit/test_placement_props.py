"""Placement properties: anti-affinity holds or the planner refuses; determinism; stability."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from swarmredis.errors import PlacementError
from swarmredis.plan.observe import SwarmNode
from swarmredis.plan.placement import Assignment, domain_of, eligible_nodes, group_of, place
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.topology import topology

ZONES = ("z1", "z2", "z3", "z4", None)


@st.composite
def swarm(draw: st.DrawFn) -> list[SwarmNode]:
    count = draw(st.integers(min_value=1, max_value=9))
    nodes = []
    for i in range(1, count + 1):
        zone = draw(st.sampled_from(ZONES))
        nodes.append(
            SwarmNode(
                id=f"id{i:02d}",
                hostname=f"h{i}",
                role=draw(st.sampled_from(["manager", "worker"])),
                availability=draw(st.sampled_from(["active", "active", "active", "drain"])),
                state=draw(st.sampled_from(["ready", "ready", "ready", "down"])),
                addr=f"10.0.0.{i}",
                labels={} if zone is None else {"zone": zone},
            )
        )
    return nodes


@st.composite
def stacks(draw: st.DrawFn) -> Stack:
    mode = draw(st.sampled_from(["cluster", "replication", "standalone"]))
    fields: dict[str, Any] = {"name": "prop", "mode": mode}
    fields["placement"] = {"spread": draw(st.sampled_from(["node.id", "node.labels.zone"]))}
    if mode == "cluster":
        fields["shards"] = draw(st.integers(min_value=3, max_value=6))
        fields["replicas"] = draw(st.integers(min_value=0, max_value=3))
    elif mode == "replication":
        fields["replicas"] = draw(st.integers(min_value=1, max_value=3))
        fields["sentinel"] = {"count": draw(st.integers(min_value=1, max_value=5))}
    return Stack.model_validate(fields)


def check_valid(stack: Stack, nodes: list[SwarmNode], a: Assignment, colocate: bool) -> None:
    eligible, _ = eligible_nodes(stack, nodes)
    ids = {n.id for n in eligible}
    logical = topology(stack)
    assert set(a.nodes) == {n.name for n in logical}
    assert set(a.nodes.values()) <= ids
    if colocate:
        return
    groups: dict[str, list[str]] = {}
    for node in logical:
        group = group_of(node)
        if group is not None:
            groups.setdefault(group, []).append(a.domains[node.name])
    for domains in groups.values():
        assert len(domains) == len(set(domains)), domains


def domains_available(stack: Stack, nodes: list[SwarmNode]) -> int:
    eligible, _ = eligible_nodes(stack, nodes)
    return len({domain_of(n, stack.placement.spread) for n in eligible})


@settings(max_examples=300, deadline=None)
@given(stacks(), swarm())
def test_anti_affinity_holds_or_the_planner_refuses(stack: Stack, nodes: list[SwarmNode]) -> None:
    available, need = domains_available(stack, nodes), 1 + stack.replicas
    if available < need:
        refusal = (
            f"no eligible Swarm node for stack {stack.name}"
            if available == 0
            else f"anti-affinity needs {need} spread domains .* only {available} are available"
        )
        with pytest.raises(PlacementError, match=refusal):
            place(stack, nodes)
    else:
        a = place(stack, nodes)
        check_valid(stack, nodes, a, colocate=False)
        assert a.warnings == () or all(w.startswith("not used:") for w in a.warnings)


def placeable(stack: Stack, nodes: list[SwarmNode], *, colocate: bool = False) -> bool:
    """Whether ``place`` succeeds, as the property above pins it down."""
    available = domains_available(stack, nodes)
    return available > 0 if colocate else available >= 1 + stack.replicas


@settings(max_examples=200, deadline=None)
@given(stacks(), swarm())
def test_colocation_places_whenever_any_host_is_eligible(
    stack: Stack, nodes: list[SwarmNode]
) -> None:
    assume(placeable(stack, nodes, colocate=True))
    a = place(stack, nodes, allow_colocation=True)
    check_valid(stack, nodes, a, colocate=True)


@settings(max_examples=200, deadline=None)
@given(stacks(), swarm(), st.randoms(use_true_random=False))
def test_placement_is_deterministic_whatever_the_node_order(
    stack: Stack, nodes: list[SwarmNode], rnd: random.Random
) -> None:
    shuffled = list(nodes)
    rnd.shuffle(shuffled)
    assume(placeable(stack, nodes, colocate=True))
    first = place(stack, nodes, allow_colocation=True)
    assert place(stack, shuffled, allow_colocation=True) == first


@settings(max_examples=200, deadline=None)
@given(stacks(), swarm(), st.sampled_from(ZONES))
def test_replanning_and_adding_a_host_move_nothing(
    stack: Stack, nodes: list[SwarmNode], zone: str | None
) -> None:
    assume(placeable(stack, nodes))
    first = place(stack, nodes)
    assert place(stack, nodes, previous=first.nodes).nodes == first.nodes
    extra = SwarmNode(
        id="id99",
        hostname="h99",
        role="worker",
        availability="active",
        state="ready",
        addr="10.0.0.99",
        labels={} if zone is None else {"zone": zone},
    )
    grown = place(stack, [*nodes, extra], previous=first.nodes)
    assert grown.nodes == first.nodes
    assert set(grown.kept) == set(first.nodes)


@settings(max_examples=200, deadline=None)
@given(stacks(), swarm())
def test_fresh_primaries_spread_evenly_over_domains(stack: Stack, nodes: list[SwarmNode]) -> None:
    assume(placeable(stack, nodes))
    a = place(stack, nodes)
    eligible, _ = eligible_nodes(stack, nodes)
    per_domain = {domain_of(n, stack.placement.spread): 0 for n in eligible}
    for node in topology(stack):
        if node.role == "primary":
            per_domain[a.domains[node.name]] += 1
    assert max(per_domain.values()) - min(per_domain.values()) <= 1
