"""redis.conf and sentinel.conf rendering."""

from __future__ import annotations

from typing import Any

import pytest

from swarmredis.plan.redisconf import redis_conf, sentinel_conf
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.topology import LogicalNode, topology


def stack(**fields: Any) -> Stack:
    return Stack.model_validate({"name": "acme", **fields})


def node(s: Stack, name: str) -> LogicalNode:
    return next(n for n in topology(s) if n.name == name)


def lines(text: str) -> list[str]:
    """The directives of a redis.conf, without the include of its live settings file."""
    kept = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [line for line in kept if not line.startswith("include /data/live-")]


def test_cluster_node_is_tls_only_with_acl_and_hostnames() -> None:
    s = stack(resources={"memory": "1G", "maxmemory_ratio": 0.5}, config={"hz": 20})
    assert lines(redis_conf(s, node(s, "node-2"))) == [
        "port 0",
        "tls-port 6379",
        "tls-cert-file /run/secrets/node-2.crt",
        "tls-key-file /run/secrets/node-2.key",
        "tls-ca-cert-file /run/secrets/ca.crt",
        "tls-auth-clients yes",
        'tls-protocols "TLSv1.2 TLSv1.3"',
        "tls-prefer-server-ciphers yes",
        "tls-replication yes",
        "tls-cluster yes",
        "aclfile /run/secrets/users.acl",
        "include /run/secrets/replication-auth.conf",
        "dir /data",
        'save "3600 1 300 100 60 10000"',
        "appendonly yes",
        "appendfsync everysec",
        "cluster-enabled yes",
        "cluster-config-file /data/nodes.conf",
        "cluster-announce-hostname acme-node-2",
        "cluster-preferred-endpoint-type hostname",
        "maxmemory 536870912",  # the live settings last (plan/liveconf.py)
        "hz 20",
    ]
    assert redis_conf(s, node(s, "node-2")).splitlines()[-1].startswith("include /data/live-")


def test_header_names_node_role_and_shard() -> None:
    s = stack()
    assert redis_conf(s, node(s, "node-5")).startswith(
        "# node-5 of swarmredis stack acme (replica, shard 2)."
    )


def test_announce_host_uses_host_address_and_published_ports() -> None:
    s = stack(announce="host")
    conf = lines(redis_conf(s, node(s, "node-3"), host_addr="192.0.2.7"))
    assert conf[-5:-1] == [
        "cluster-preferred-endpoint-type ip",
        "cluster-announce-ip 192.0.2.7",
        "cluster-announce-tls-port 7002",
        "cluster-announce-bus-port 17002",
    ]
    with pytest.raises(ValueError, match="needs the address of its host"):
        redis_conf(s, node(s, "node-3"))


def test_replication_replica_follows_its_primary_by_alias() -> None:
    s = stack(mode="replication", replicas=2, tls={"auth_clients": "optional"})
    conf = lines(redis_conf(s, node(s, "node-3")))
    assert "tls-auth-clients optional" in conf
    assert "tls-cluster yes" not in conf
    assert not any(line.startswith("cluster-") for line in conf)
    assert conf[-4:-1] == [
        "replica-announce-ip acme-node-3",
        "replica-announce-port 6379",
        "replicaof acme-node-1 6379",
    ]
    assert not any(line.startswith("replicaof") for line in lines(redis_conf(s, node(s, "node-1"))))


def test_standalone_without_persistence_listens_on_tls_only() -> None:
    s = stack(mode="standalone", persistence={"appendonly": False, "save": ""})
    conf = lines(redis_conf(s, node(s, "node-1")))
    assert conf[:2] == ["port 0", "tls-port 6379"]
    assert 'save ""' in conf
    assert "appendonly no" in conf


def test_protected_mode_is_left_at_its_default() -> None:
    s = stack()
    assert "protected-mode" not in redis_conf(s, node(s, "node-1"))


def test_sentinel_monitors_the_primary_by_alias() -> None:
    s = stack(
        mode="replication",
        replicas=2,
        sentinel={"count": 3, "quorum": 2, "down_after": "3s", "failover_timeout": "1m"},
    )
    conf = lines(sentinel_conf(s, node(s, "sentinel-2"), node(s, "node-1")))
    assert conf[:2] == ["port 0", "tls-port 26379"]
    assert "tls-cert-file /run/secrets/sentinel-2.crt" in conf
    assert "tls-replication yes" in conf
    assert "aclfile /run/secrets/users.acl" not in conf
    assert conf[-9:] == [
        "dir /data",
        "sentinel resolve-hostnames yes",
        "sentinel announce-hostnames yes",
        "sentinel announce-ip acme-sentinel-2",
        "sentinel announce-port 26379",
        "sentinel monitor acme acme-node-1 6379 2",
        "sentinel down-after-milliseconds acme 3000",
        "sentinel failover-timeout acme 60000",
        "sentinel parallel-syncs acme 1",
    ]


def test_sentinel_with_announce_host_monitors_the_published_port() -> None:
    s = stack(mode="replication", replicas=1, announce="host")
    conf = lines(
        sentinel_conf(s, node(s, "sentinel-1"), node(s, "node-1"), "192.0.2.2", "192.0.2.1")
    )
    assert "sentinel announce-ip 192.0.2.2" in conf
    assert "sentinel announce-port 7002" in conf
    assert "sentinel monitor acme 192.0.2.1 7000 2" in conf


def test_kinds_are_checked() -> None:
    s = stack(mode="replication")
    with pytest.raises(ValueError, match="not a Redis node"):
        redis_conf(s, node(s, "sentinel-1"))
    with pytest.raises(ValueError, match="not a sentinel"):
        sentinel_conf(s, node(s, "node-1"), node(s, "node-1"))
