"""`network: {mode: host}`: validation, ports, configs and service specs (pure)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from testkit.swarmnodes import ready_hosts

from swarmredis import labels
from swarmredis.engine.flows.status import health_targets
from swarmredis.errors import PlacementError, SpecError
from swarmredis.plan.observe import SwarmNode
from swarmredis.plan.placement import place
from swarmredis.plan.ports import check_host_ports, held_ports, ports_taken
from swarmredis.plan.state import DesiredState, desired_state, required_material
from swarmredis.stackfile import parse_stack
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.topology import topology


def hosts(count: int = 3) -> list[SwarmNode]:
    return ready_hosts(count, lambda i: {"zone": f"z{i}"})


def stack(**fields: Any) -> Stack:
    return Stack.model_validate({"name": "acme", "network": {"mode": "host"}, **fields})


def plan(s: Stack) -> DesiredState:
    material = {name: name.encode() for name in required_material(s)}
    return desired_state(s, place(s, hosts()), material)


def service(state: DesiredState, node: str) -> dict[str, Any]:
    spec = next(o.spec for o in state.services if o.logical == node)
    assert spec is not None
    return dict(spec)


def config_text(state: DesiredState, logical: str) -> list[str]:
    spec = next(o.spec for o in state.configs if o.logical == logical)
    assert spec is not None
    text = base64.b64decode(spec["Data"]).decode()
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_host_mode_implies_announce_host_and_names_the_host_network() -> None:
    s = stack()
    assert s.host_network
    assert s.network.name == "host"
    assert s.announce == "host"
    assert not Stack.model_validate({"name": "acme"}).host_network


def test_each_node_listens_on_its_own_host_port() -> None:
    s = stack(access={"base_port": 7100})
    ports = {n.name: (n.port, n.published_port, n.bus_published_port) for n in topology(s)}
    assert ports == {f"node-{i}": (7099 + i, 7099 + i, 17099 + i) for i in range(1, 7)}
    r = stack(mode="replication", replicas=2, access={"base_port": 7200})
    assert [(n.name, n.port, n.published_port) for n in topology(r)] == [
        ("node-1", 7200, 7200),
        ("node-2", 7201, 7201),
        ("node-3", 7202, 7202),
        ("sentinel-1", 7203, 7203),
        ("sentinel-2", 7204, 7204),
        ("sentinel-3", 7205, 7205),
    ]


BAD = [
    (
        "network: {mode: bridge}\n",
        "network.mode: must be one of 'overlay' or 'host', got 'bridge' (line 2)",
    ),
    (
        "network: {mode: host, name: acme_net}\n",
        "network.name: not allowed with network.mode host: every node joins Swarm's predefined"
        " host network (line 2)",
    ),
    (
        "network: {mode: host, encrypted: true}\n",
        "network.encrypted: not allowed with network.mode host: there is no overlay to encrypt"
        " (traffic is TLS anyway) (line 2)",
    ),
    (
        "network: {mode: host, subnet: 10.1.0.0/24}\n",
        "network.subnet: not allowed with network.mode host: nodes use their hosts' addresses"
        " (line 2)",
    ),
    (
        "network: {mode: host, attachable: true}\n",
        "network.attachable: not allowed with network.mode host: there is no overlay for"
        " containers to attach to (line 2)",
    ),
    (
        "network: {mode: host}\nport: 6380\n",
        "port: not allowed with network.mode host: node i listens on access.base_port + i - 1"
        " on its host (line 3)",
    ),
    (
        "mode: replication\nnetwork: {mode: host}\nsentinel: {port: 26380}\n",
        "sentinel.port: not allowed with network.mode host: node i listens on"
        " access.base_port + i - 1 on its host (sentinels follow the Redis nodes) (line 4)",
    ),
    (
        "network: {mode: host}\naccess: {publish: none}\n",
        "access.publish: must be host with network.mode host (node i listens on"
        " access.base_port + i - 1 on its host), got 'none' (line 3)",
    ),
    (
        "network: {mode: host}\nannounce: hostname\n",
        "announce: must be host with network.mode host (no overlay DNS resolves aliases"
        " there), got 'hostname' (line 3)",
    ),
    (
        "network: {mode: host}\naccess: {base_port: 55531}\n",
        "access.base_port: the cluster bus ports would reach 65536 (base_port + 10000 +"
        " node index - 1), which must be <= 65535 (line 3)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_refusals_name_the_field(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_stack("name: acme\n" + text, source="x.yaml")
    assert str(caught.value).splitlines()[0] == f"x.yaml: {expected}"


def test_defaults_of_the_overlay_fields_are_accepted() -> None:
    s = parse_stack("name: acme\nnetwork: {mode: host, encrypted: false, name: host}\n")
    assert s.network.name == "host"


def test_cluster_service_joins_the_host_network_and_publishes_nothing() -> None:
    state = plan(stack(access={"base_port": 7100}))
    assert state.network is None
    assert all(o.kind != "network" for o in state.objects())
    spec = service(state, "node-2")
    task = spec["TaskTemplate"]
    assert task["Networks"] == [{"Target": "host"}]
    assert spec["EndpointSpec"] == {"Mode": "dnsrr"}
    assert spec["Labels"][labels.HOST_PORT] == "7101"
    container = task["ContainerSpec"]
    assert "Sysctls" not in container  # runc refuses net.* sysctls in the host namespace
    host = state.assignment.addresses["node-2"]
    assert f"-h {host} -p 7101 ping" in container["Healthcheck"]["Test"][1]


def test_cluster_node_binds_and_announces_its_host_address() -> None:
    state = plan(stack(access={"base_port": 7100}))
    host = state.assignment.addresses["node-4"]
    conf = config_text(state, "redis-node-4.conf")
    assert conf[:2] == [f"bind {host}", "port 0"]
    assert "tls-port 7103" in conf
    assert conf[-6:-2] == [  # then the live settings: maxmemory, the include of their file
        "cluster-preferred-endpoint-type ip",
        f"cluster-announce-ip {host}",
        "cluster-announce-tls-port 7103",
        "cluster-announce-bus-port 17103",
    ]


def test_replication_replicas_follow_the_primary_host_and_sentinels_bind_theirs() -> None:
    state = plan(stack(mode="replication", replicas=2, access={"base_port": 7200}))
    addr = state.assignment.addresses
    replica = config_text(state, "redis-node-3.conf")
    assert f"bind {addr['node-3']}" in replica
    assert f"replica-announce-ip {addr['node-3']}" in replica
    assert "replica-announce-port 7202" in replica
    assert f"replicaof {addr['node-1']} 7200" in replica
    sentinel = config_text(state, "sentinel-2.conf")
    assert sentinel[:3] == [f"bind {addr['sentinel-2']}", "port 0", "tls-port 7204"]
    assert f"sentinel monitor acme {addr['node-1']} 7200 2" in sentinel
    assert f"sentinel announce-ip {addr['sentinel-2']}" in sentinel
    assert "sentinel announce-port 7204" in sentinel


def test_standalone_binds_its_host_port() -> None:
    state = plan(stack(mode="standalone", access={"base_port": 7300}))
    conf = config_text(state, "redis-node-1.conf")
    assert conf[:3] == [f"bind {state.assignment.addresses['node-1']}", "port 0", "tls-port 7300"]


def test_overlay_services_carry_no_host_port_label() -> None:
    state = plan(Stack.model_validate({"name": "acme"}))
    assert all(labels.HOST_PORT not in (o.spec or {})["Labels"] for o in state.services)


def test_status_finds_a_host_network_node_at_its_host_address_and_port() -> None:
    state = plan(stack(access={"base_port": 7100}))
    services = [
        {"ID": f"svc-{o.logical}", "Spec": o.spec} for o in state.services if o.spec is not None
    ]
    nodes = {h.id: h for h in hosts()}
    targets = health_targets("acme", services, [], nodes)
    found = {t.name: (t.endpoint.host, t.endpoint.port) for t in targets}
    assert found == {n.name: (state.assignment.addresses[n.name], n.port) for n in state.nodes}


def raw_services(state: DesiredState) -> list[dict[str, Any]]:
    """The desired services as the Docker API lists them (enough for ``ports_taken``)."""
    return [{"ID": o.logical, "Spec": o.spec} for o in state.services if o.spec is not None]


def test_one_stack_never_holds_a_port_twice_on_a_host() -> None:
    for s in (
        stack(shards=100, replicas=5, access={"base_port": 1024}),
        stack(mode="replication", replicas=5, sentinel={"count": 9}),
        Stack.model_validate({"name": "acme", "announce": "host", "shards": 100, "replicas": 5}),
    ):
        nodes = topology(s)
        check_host_ports(s, {n.name: "id1" for n in nodes}, {})  # all on one host
        ports = [p for n in nodes for p in held_ports(n)]
        assert len(ports) == len(set(ports))


def test_ports_held_by_another_stack_on_the_same_host_are_refused() -> None:
    other = plan(stack(name="other", access={"base_port": 7104}))
    taken = ports_taken(raw_services(other), "acme")
    mine = stack(access={"base_port": 7100})  # node-5 and node-6 want 7104 and 7105
    elsewhere = {n.name: "id9" for n in topology(mine)}
    check_host_ports(mine, elsewhere, taken)  # other hosts: no clash
    placed = elsewhere | {
        "node-5": other.assignment.nodes["node-1"],
        "node-6": other.assignment.nodes["node-2"],
    }
    with pytest.raises(PlacementError) as caught:
        check_host_ports(mine, placed, taken)
    assert "node-5 needs port 7104, held by other/node-1" in str(caught.value)
    assert "node-6 needs port 7105, held by other/node-2" in str(caught.value)
    assert "node-6 needs port 17105, held by other/node-2" in str(caught.value)


def test_host_network_clashes_with_published_ports_but_overlays_are_left_to_swarm() -> None:
    overlay = Stack.model_validate({"name": "pub", "access": {"base_port": 7100}})
    published = plan(overlay)
    taken = ports_taken(raw_services(published), "acme")
    assert taken[published.assignment.nodes["node-1"]][7100].holder == "pub/node-1"
    mine = stack(access={"base_port": 7100})
    with pytest.raises(PlacementError, match="node-1 needs port 7100, held by pub/node-1"):
        check_host_ports(mine, dict(published.assignment.nodes), taken)
    also_overlay = Stack.model_validate({"name": "acme", "access": {"base_port": 7100}})
    check_host_ports(also_overlay, dict(published.assignment.nodes), taken)
    assert ports_taken(raw_services(published), "pub") == {}  # a stack's own ports are its own
