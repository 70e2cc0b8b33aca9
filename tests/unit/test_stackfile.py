"""Valid stack files: defaults, units, mode-dependent values and the logical topology."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmredis import stackfile
from swarmredis.stackfile import load_stack, parse_stack
from swarmredis.stackfile.topology import topology

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def test_exports_are_sorted_and_complete() -> None:
    assert stackfile.__all__ == sorted(stackfile.__all__)
    for name in stackfile.__all__:
        assert hasattr(stackfile, name), name


def test_minimal_cluster_gets_documented_defaults() -> None:
    stack = parse_stack("name: acme\n")
    assert (stack.mode, stack.shards, stack.replicas, stack.port) == ("cluster", 3, 1, 6379)
    assert stack.network.name == "acme_net"
    assert stack.network.encrypted is False
    assert stack.placement.spread == "node.id"
    assert stack.resources.memory == 512 * 1024**2
    assert stack.resources.maxmemory == int(512 * 1024**2 * 0.75)
    assert stack.tls.enabled is True
    assert stack.tls.auth_clients == "required"
    assert stack.access.publish == "host"
    assert stack.access.base_port == 7000
    assert stack.announce == "hostname"
    assert stack.update.delay == 5.0
    assert stack.persistence.save == "3600 1 300 100 60 10000"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512M", 512 * 1024**2), ("1G", 1024**3), ("1.5GiB", 3 * 1024**3 // 2), (67108864, 2**26)],
)
def test_memory_units(text: object, expected: int) -> None:
    stack = parse_stack(f"name: acme\nresources: {{memory: {text}}}\n")
    assert stack.resources.memory == expected


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5.0), ("500ms", 0.5), ("1m30s", 90.0), (2, 2.0)]
)
def test_update_delay_units(text: object, seconds: float) -> None:
    assert parse_stack(f"name: acme\nupdate: {{delay: {text}}}\n").update.delay == seconds


def test_unquoted_yaml_no_is_read_as_the_word_no() -> None:
    stack = parse_stack("name: acme\ntls: {auth_clients: no}\npersistence: {appendfsync: no}\n")
    assert stack.tls.auth_clients == "no"
    assert stack.persistence.appendfsync == "no"


def test_config_values_become_strings_and_are_sorted() -> None:
    stack = parse_stack("name: acme\nconfig: {maxmemory-policy: allkeys-lru, hz: 20, x-y: yes}\n")
    assert list(stack.config.items()) == [
        ("hz", "20"),
        ("maxmemory-policy", "allkeys-lru"),
        ("x-y", "yes"),
    ]


def test_sentinel_quorum_defaults_to_majority() -> None:
    stack = parse_stack("name: acme\nmode: replication\nsentinel: {count: 5}\n")
    assert (stack.sentinel.count, stack.sentinel.quorum) == (5, 3)


def test_models_are_frozen() -> None:
    stack = parse_stack("name: acme\n")
    with pytest.raises(ValueError, match="frozen"):
        stack.name = "other"  # type: ignore[misc]


def test_constraints_are_normalised() -> None:
    stack = parse_stack("name: acme\nplacement: {constraints: ['node.labels.redis  ==  true']}\n")
    assert stack.placement.constraints == ("node.labels.redis==true",)


def test_cluster_topology_follows_the_naming_contract() -> None:
    nodes = topology(parse_stack("name: acme\nshards: 3\nreplicas: 2\n"))
    assert [n.name for n in nodes] == [f"node-{i}" for i in range(1, 10)]
    by_name = {n.name: n for n in nodes}
    # replica r of shard k is node-{S + (k-1)*R + r}
    assert by_name["node-4"].primary == "node-1"
    assert by_name["node-5"].primary == "node-1"
    assert by_name["node-6"].primary == "node-2"
    assert by_name["node-9"].primary == "node-3"
    assert by_name["node-9"].shard == 3
    assert by_name["node-2"].role == "primary"
    assert by_name["node-2"].service == "acme_node-2"
    assert by_name["node-2"].alias == "acme-node-2"
    assert by_name["node-2"].volume == "acme_data-2"
    assert [n.published_port for n in nodes] == list(range(7000, 7009))
    assert all(n.bus_published_port is None for n in nodes)


def test_announce_host_publishes_the_bus_port() -> None:
    nodes = topology(parse_stack("name: acme\nannounce: host\n"))
    assert [(n.published_port, n.bus_published_port) for n in nodes][:2] == [
        (7000, 17000),
        (7001, 17001),
    ]


def test_replication_topology_has_sentinels_after_redis_nodes() -> None:
    stack = parse_stack("name: acme\nmode: replication\nreplicas: 2\n")
    nodes = topology(stack)
    assert [(n.name, n.role, n.primary) for n in nodes] == [
        ("node-1", "primary", None),
        ("node-2", "replica", "node-1"),
        ("node-3", "replica", "node-1"),
        ("sentinel-1", "sentinel", None),
        ("sentinel-2", "sentinel", None),
        ("sentinel-3", "sentinel", None),
    ]
    sentinel = nodes[3]
    assert (sentinel.kind, sentinel.index, sentinel.port) == ("sentinel", 1, 26379)
    assert sentinel.published_port == 7003
    assert sentinel.volume == "acme_sentinel-data-1"


def test_standalone_topology_and_no_publish() -> None:
    stack = parse_stack("name: solo\nmode: standalone\naccess: {publish: none}\n")
    assert (stack.shards, stack.replicas) == (1, 0)
    (node,) = topology(stack)
    assert (node.name, node.role, node.published_port) == ("node-1", "standalone", None)


@pytest.mark.parametrize("name", ["cluster.yaml", "replication.yaml", "standalone.yaml"])
def test_shipped_stack_files_are_valid(name: str) -> None:
    stack = load_stack(STACKS / name)
    assert stack.mode == name.removesuffix(".yaml")


def test_acl_rules_accept_first_arguments_and_any_case() -> None:
    stack = parse_stack(
        "name: acme\nacl: {users: [{name: app, keys: ['app:*'],"
        " commands: ['+GET', '+select|0', '+Client|List', '-@Dangerous']}]}\n"
    )
    (user,) = stack.acl.users
    assert user.commands == ("+get", "+select|0", "+client|list", "-@dangerous")
    assert user.keys == ("app:*",)
