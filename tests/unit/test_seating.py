"""A live stack's layout is read from its services: names, roles and ports are kept (pure)."""

from __future__ import annotations

import pytest

from swarmredis import labels
from swarmredis.errors import PlacementError, TopologyChangeRefused
from swarmredis.plan.observe import ObservedObject
from swarmredis.plan.seating import seating
from swarmredis.stackfile import Stack
from swarmredis.stackfile.load import parse_stack
from swarmredis.stackfile.topology import LogicalNode, topology


def stack(mode: str = "cluster", shards: int = 3, replicas: int = 1, extra: str = "") -> Stack:
    counts = f"shards: {shards}\n" if mode == "cluster" else ""
    published = "access: {publish: host, base_port: 7100}\n" if "access" not in extra else ""
    text = f"name: acme\nmode: {mode}\n{counts}replicas: {replicas}\n{published}{extra}"
    return parse_stack(text)


def service(node: LogicalNode, host_network: bool = False) -> ObservedObject:
    """A service as deploy labels and publishes it (client port, then the bus port)."""
    found = {labels.ROLE: node.kind, labels.NODE: node.name, labels.PLANNED_ROLE: node.role}
    if node.shard is not None:
        found[labels.SHARD] = str(node.shard)
    ports = [p for p in (node.published_port, node.bus_published_port) if p is not None]
    if host_network:
        found[labels.HOST_PORT] = str(node.port)
        ports = []
    spec = {"EndpointSpec": {"Ports": [{"PublishedPort": p, "PublishMode": "host"} for p in ports]}}
    return ObservedObject("service", f"id-{node.name}", node.service, 1, found, spec)


def deployed(of: Stack) -> list[ObservedObject]:
    return [service(n, of.host_network) for n in topology(of)]


def laid_out(
    wanted: Stack, live: list[ObservedObject]
) -> dict[str, tuple[str, int | None, int | None, str | None]]:
    nodes = topology(wanted, seating(wanted, live).layout)
    return {n.name: (n.role, n.shard, n.published_port, n.primary) for n in nodes}


@pytest.mark.parametrize(
    "of",
    [
        stack(),
        stack(shards=4, replicas=2),
        stack("replication", replicas=2),
        stack("standalone", replicas=0),
        stack(extra="announce: host\n"),
        stack("replication", extra="network: {mode: host}\n"),
        stack(extra="access: {publish: none}\n"),
    ],
)
def test_a_deployed_stack_lays_out_as_a_fresh_one(of: Stack) -> None:
    fresh = topology(of)
    assert topology(of, seating(of, deployed(of)).layout) == fresh
    assert topology(of, seating(of, []).layout) == fresh
    some = [s for s in deployed(of) if s.logical in ("node-1", "node-3")]
    assert topology(of, seating(of, some).layout) == fresh  # a killed deploy resumes


def test_shards_3_to_4_keeps_every_node_and_adds_shard_4_under_new_names() -> None:
    got = laid_out(stack(shards=4), deployed(stack()))
    assert got["node-4"] == ("replica", 1, 7103, "node-1")  # not shard 4's primary
    assert got["node-7"] == ("primary", 4, 7106, None)
    assert got["node-8"] == ("replica", 4, 7107, "node-7")
    assert len(got) == 8


def test_a_replica_added_to_a_replication_stack_keeps_the_sentinels_ports() -> None:
    before = laid_out(stack("replication"), deployed(stack("replication")))
    after = laid_out(stack("replication", replicas=2), deployed(stack("replication")))
    assert {k: v for k, v in after.items() if k != "node-3"} == before
    assert before["sentinel-3"][2] == 7104
    assert after["node-3"] == ("replica", None, 7105, "node-1")


def test_a_changed_base_port_moves_every_live_node_by_the_same_offset() -> None:
    moved = stack(extra="access: {publish: host, base_port: 7300}\n")
    grown = stack(shards=4, extra="access: {publish: host, base_port: 7300}\n")
    assert laid_out(moved, deployed(stack())) == laid_out(moved, [])
    got = laid_out(grown, deployed(stack()))
    assert [got[f"node-{i}"][2] for i in range(1, 9)] == list(range(7300, 7308))


def test_host_network_ports_are_read_from_the_host_port_label() -> None:
    live = stack("replication", extra="network: {mode: host}\n")
    after = laid_out(
        stack("replication", replicas=2, extra="network: {mode: host}\n"), deployed(live)
    )
    assert after["sentinel-1"][2] == 7102 and after["node-3"][2] == 7105


def test_services_labelled_as_no_stack_s_nodes_are_refused_naming_the_service() -> None:
    live = deployed(stack())
    bad = ObservedObject(
        "service", "x", "acme_node-x", 1, {**live[0].labels, labels.NODE: "node-x"}, {}
    )
    with pytest.raises(
        TopologyChangeRefused, match="service acme_node-x is labelled node 'node-x'"
    ):
        seating(stack(), [bad, *live[1:]])
    twice = ObservedObject(
        "service",
        "y",
        "acme_node-2",
        1,
        {**live[1].labels, labels.PLANNED_ROLE: "primary", labels.SHARD: "1"},
        {},
    )
    with pytest.raises(TopologyChangeRefused, match="shard 1 has 2 planned primaries"):
        seating(stack(), [live[0], twice, *live[2:]])


def test_ports_past_the_port_range_are_refused_naming_the_node() -> None:
    """The stack file's check counts nodes; a live stack's positions may have gaps (here
    shards 4 and 5 retired with a base_port moved to the end of the range)."""
    edge = stack(extra="access: {publish: host, base_port: 65530}\n")
    with pytest.raises(PlacementError, match="node-7 would publish port 65536, past 65535"):
        seating(edge, deployed(stack(shards=5)))
