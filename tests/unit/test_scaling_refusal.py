"""A changed shard or replica count on a live stack is refused, naming the nodes (pure)."""

from __future__ import annotations

from swarmredis import labels
from swarmredis.errors import EXIT_FAILED
from swarmredis.plan.observe import ObservedObject
from swarmredis.plan.scaling import topology_change_refusal
from swarmredis.plan.seating import seating
from swarmredis.stackfile import Stack
from swarmredis.stackfile.load import parse_stack
from swarmredis.stackfile.topology import topology


def stack(mode: str = "cluster", shards: int = 3, replicas: int = 1) -> Stack:
    extra = f"shards: {shards}\n" if mode == "cluster" else ""
    return parse_stack(f"name: acme\nmode: {mode}\n{extra}replicas: {replicas}\n")


def services_of(deployed: Stack, only: set[str] | None = None) -> list[ObservedObject]:
    """The services a deploy of ``deployed`` created, with the labels the planner reads."""
    found = []
    for node in topology(deployed):
        if only is not None and node.name not in only:
            continue
        found.append(
            ObservedObject(
                kind="service",
                id=f"id-{node.name}",
                name=node.service,
                version=1,
                labels={
                    labels.ROLE: node.kind,
                    labels.NODE: node.name,
                    labels.PLANNED_ROLE: node.role,
                    **({labels.SHARD: str(node.shard)} if node.shard is not None else {}),
                },
                spec={},
            )
        )
    return found


def refusal(wanted: Stack, deployed: list[ObservedObject]):  # type: ignore[no-untyped-def]
    return topology_change_refusal(wanted, seating(wanted, deployed), deployed)


def test_the_same_shape_a_fresh_stack_or_a_half_created_one_is_not_refused() -> None:
    assert refusal(stack(), services_of(stack())) is None
    assert refusal(stack(), []) is None
    half = services_of(stack(), only={"node-1", "node-2", "node-4"})  # deploy killed mid-apply
    assert refusal(stack(), half) is None
    replication = stack("replication", replicas=2)
    assert refusal(replication, services_of(replication)) is None


def test_more_shards_or_replicas_are_planned_not_refused() -> None:
    assert refusal(stack(shards=4), services_of(stack())) is None
    assert refusal(stack(replicas=2), services_of(stack())) is None
    assert refusal(stack("replication", replicas=3), services_of(stack("replication"))) is None


def test_fewer_shards_or_replicas_are_refused_naming_the_nodes_and_the_counts_that_run() -> None:
    for wanted, deployed in [
        (stack(shards=3), stack(shards=4)),
        (stack(replicas=1), stack(replicas=2)),
        (stack("replication", replicas=1), stack("replication", replicas=2)),
    ]:
        assert refusal(wanted, services_of(deployed)) is not None, wanted
    retired = refusal(stack(shards=3), services_of(stack(shards=4)))
    assert retired is not None and retired.exit_code == EXIT_FAILED
    assert retired.message == (
        "stack acme: fewer shards or replicas on a live stack is not supported yet:"
        " node-4 (shard 4's primary) would be removed; node-8 (shard 4's replica) would be"
        " removed"
    )
    assert retired.hint == (
        "nothing was changed; shards: 4, replicas: 1 run now: set them back in the stack file"
    )
    two = services_of(stack("replication", replicas=2))
    dropped = refusal(stack("replication", replicas=1), two)
    assert dropped is not None
    assert "node-3 (replica) would be removed" in dropped.message
    assert dropped.hint is not None and "replicas: 2 run now" in dropped.hint
