# ruff: noqa: E501  (captured replies are long lines by nature)
"""Parsers of Redis replies, on replies captured from redis-server 7.0.15 (TLS, cluster mode
and Sentinel) by the peers tests' lab. INFO is cut to the sections the engine reads."""

from __future__ import annotations

import pytest

from swarmredis.engine.redis.replies import (
    ClusterNode,
    OpenSlot,
    format_ranges,
    info_int,
    parse_cluster_info,
    parse_cluster_node_line,
    parse_cluster_nodes,
    parse_cluster_shards,
    parse_info,
    parse_info_fields,
    parse_pairs,
    parse_role,
    ranges_of,
    slots_of,
)

CLUSTER_NODES_FAILED_REPLICA = (
    "147cf2806b5c0047aa410fbfb631630fa52f4d71 127.0.0.1:48975@58975 slave 345fdaa56050c5e2e990c797b0701287f567df6c 0 1795662795043 2 connected\n"
    "f99d2ec900b91d6b0e50b6d408cc257cc2e3b074 127.0.0.1:31858@41858 myself,master - 0 1795662794000 1 connected 0-5460\n"
    "345fdaa56050c5e2e990c797b0701287f567df6c 127.0.0.1:39389@49389 master - 0 1795662795043 2 connected 5461-10922\n"
    "0092236cb884831ffe99bb362ce0ac6e567772bb 127.0.0.1:31757@41757 slave,fail 360597edf128d1afd9db01144ae0e375cde1fd35 1795662791024 1795662790019 3 disconnected\n"
    "360597edf128d1afd9db01144ae0e375cde1fd35 127.0.0.1:20346@30346 master - 0 1795662795043 3 connected 10923-16383\n"
    "808b84a574ea07d04a3c1652810882b1e23289f1 127.0.0.1:23830@33830 slave f99d2ec900b91d6b0e50b6d408cc257cc2e3b074 0 1795662795043 1 connected\n"
)

CLUSTER_NODES_HANDSHAKE = (
    "21a63a67cdc5baa26a0858cffb093b434e4a5b6d 127.0.0.1:1@10001 handshake - 0 0 0 disconnected\n"
    "147cf2806b5c0047aa410fbfb631630fa52f4d71 127.0.0.1:48975@58975 slave 345fdaa56050c5e2e990c797b0701287f567df6c 0 1795662795043 2 connected\n"
    "f99d2ec900b91d6b0e50b6d408cc257cc2e3b074 127.0.0.1:31858@41858 myself,master - 0 1795662794000 1 connected 0-5460\n"
    "345fdaa56050c5e2e990c797b0701287f567df6c 127.0.0.1:39389@49389 master - 0 1795662795043 2 connected 5461-10922\n"
    "0092236cb884831ffe99bb362ce0ac6e567772bb 127.0.0.1:31757@41757 slave,fail 360597edf128d1afd9db01144ae0e375cde1fd35 1795662791024 1795662790019 3 disconnected\n"
    "360597edf128d1afd9db01144ae0e375cde1fd35 127.0.0.1:20346@30346 master - 0 1795662795043 3 connected 10923-16383\n"
    "808b84a574ea07d04a3c1652810882b1e23289f1 127.0.0.1:23830@33830 slave f99d2ec900b91d6b0e50b6d408cc257cc2e3b074 0 1795662795043 1 connected\n"
)

CLUSTER_NODES_FRESH = (
    "33755384778977069356dd96989a70360361f2fc :31624@41624 myself,master - 0 0 0 connected\n"
)

CLUSTER_INFO = (
    "cluster_state:ok\r\n"
    "cluster_slots_assigned:16384\r\n"
    "cluster_slots_ok:16384\r\n"
    "cluster_slots_pfail:0\r\n"
    "cluster_slots_fail:0\r\n"
    "cluster_known_nodes:6\r\n"
    "cluster_size:3\r\n"
    "cluster_current_epoch:5\r\n"
    "cluster_my_epoch:1\r\n"
    "cluster_stats_messages_ping_sent:32\r\n"
    "cluster_stats_messages_pong_sent:39\r\n"
    "cluster_stats_messages_meet_sent:5\r\n"
    "cluster_stats_messages_fail_sent:4\r\n"
    "cluster_stats_messages_sent:80\r\n"
    "cluster_stats_messages_ping_received:39\r\n"
    "cluster_stats_messages_pong_received:36\r\n"
    "cluster_stats_messages_fail_received:2\r\n"
    "cluster_stats_messages_received:77\r\n"
    "total_cluster_links_buffer_limit_exceeded:0\r\n"
)

CLUSTER_INFO_FRESH = (
    "cluster_state:fail\r\n"
    "cluster_slots_assigned:0\r\n"
    "cluster_slots_ok:0\r\n"
    "cluster_slots_pfail:0\r\n"
    "cluster_slots_fail:0\r\n"
    "cluster_known_nodes:1\r\n"
    "cluster_size:1\r\n"
    "cluster_current_epoch:0\r\n"
    "cluster_my_epoch:0\r\n"
    "cluster_stats_messages_sent:0\r\n"
    "cluster_stats_messages_received:0\r\n"
    "total_cluster_links_buffer_limit_exceeded:0\r\n"
)

INFO_REPLICATION_REPLICA = (
    "# Replication\r\n"
    "role:slave\r\n"
    "master_host:127.0.0.1\r\n"
    "master_port:31858\r\n"
    "master_link_status:up\r\n"
    "master_last_io_seconds_ago:7\r\n"
    "master_sync_in_progress:0\r\n"
    "slave_read_repl_offset:0\r\n"
    "slave_repl_offset:0\r\n"
    "slave_priority:100\r\n"
    "slave_read_only:1\r\n"
    "replica_announced:1\r\n"
    "connected_slaves:0\r\n"
    "master_failover_state:no-failover\r\n"
    "master_replid:7ca7992981e3856d86d76b9acc8605565189e70c\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:0\r\n"
    "second_repl_offset:-1\r\n"
    "repl_backlog_active:1\r\n"
    "repl_backlog_size:1048576\r\n"
    "repl_backlog_first_byte_offset:1\r\n"
    "repl_backlog_histlen:0\r\n"
)

INFO_PRIMARY = (
    "# Server\r\n"
    "redis_version:7.0.15\r\n"
    "redis_mode:cluster\r\n"
    "run_id:e1eee4d43609961f09d0e8ede216362986e92c29\r\n"
    "tcp_port:31858\r\n"
    "uptime_in_seconds:8\r\n"
    "\r\n"
    "# Memory\r\n"
    "used_memory:1991224\r\n"
    "used_memory_human:1.90M\r\n"
    "maxmemory:67108864\r\n"
    "maxmemory_human:64.00M\r\n"
    "maxmemory_policy:noeviction\r\n"
    "\r\n"
    "# Replication\r\n"
    "role:master\r\n"
    "connected_slaves:1\r\n"
    "slave0:ip=127.0.0.1,port=23830,state=online,offset=0,lag=1\r\n"
    "master_failover_state:no-failover\r\n"
    "master_replid:7ca7992981e3856d86d76b9acc8605565189e70c\r\n"
    "master_replid2:0000000000000000000000000000000000000000\r\n"
    "master_repl_offset:0\r\n"
    "second_repl_offset:-1\r\n"
    "repl_backlog_active:1\r\n"
    "repl_backlog_size:1048576\r\n"
    "repl_backlog_first_byte_offset:1\r\n"
    "repl_backlog_histlen:0\r\n"
    "\r\n"
    "# Cluster\r\n"
    "cluster_enabled:1\r\n"
    "\r\n"
)

CLUSTER_SHARDS = [
    [
        "slots",
        [0, 5460],
        "nodes",
        [
            [
                "id",
                "f99d2ec900b91d6b0e50b6d408cc257cc2e3b074",
                "tls-port",
                31858,
                "ip",
                "127.0.0.1",
                "endpoint",
                "127.0.0.1",
                "role",
                "master",
                "replication-offset",
                0,
                "health",
                "online",
            ],
            [
                "id",
                "808b84a574ea07d04a3c1652810882b1e23289f1",
                "tls-port",
                23830,
                "ip",
                "127.0.0.1",
                "endpoint",
                "127.0.0.1",
                "role",
                "replica",
                "replication-offset",
                0,
                "health",
                "loading",
            ],
        ],
    ],
    [
        "slots",
        [5461, 10922],
        "nodes",
        [
            [
                "id",
                "345fdaa56050c5e2e990c797b0701287f567df6c",
                "tls-port",
                39389,
                "ip",
                "127.0.0.1",
                "endpoint",
                "127.0.0.1",
                "role",
                "master",
                "replication-offset",
                0,
                "health",
                "online",
            ],
            [
                "id",
                "147cf2806b5c0047aa410fbfb631630fa52f4d71",
                "tls-port",
                48975,
                "ip",
                "127.0.0.1",
                "endpoint",
                "127.0.0.1",
                "role",
                "replica",
                "replication-offset",
                0,
                "health",
                "loading",
            ],
        ],
    ],
    [
        "slots",
        [10923, 16383],
        "nodes",
        [
            [
                "id",
                "360597edf128d1afd9db01144ae0e375cde1fd35",
                "tls-port",
                20346,
                "ip",
                "127.0.0.1",
                "endpoint",
                "127.0.0.1",
                "role",
                "master",
                "replication-offset",
                0,
                "health",
                "online",
            ],
            [
                "id",
                "0092236cb884831ffe99bb362ce0ac6e567772bb",
                "tls-port",
                31757,
                "ip",
                "127.0.0.1",
                "endpoint",
                "127.0.0.1",
                "role",
                "replica",
                "replication-offset",
                0,
                "health",
                "fail",
            ],
        ],
    ],
]

ROLE_MASTER = ["master", 0, [["127.0.0.1", "23830", "0"]]]

ROLE_REPLICA = ["slave", "127.0.0.1", 31858, "connected", 0]

ROLE_SENTINEL = ["sentinel", ["mymaster"]]

SENTINEL_MASTER = [
    "name",
    "mymaster",
    "ip",
    "127.0.0.1",
    "port",
    "35495",
    "runid",
    "6016e412a5cd905ccb7f7d52ddaa24a1acb95e6a",
    "flags",
    "master",
    "link-pending-commands",
    "0",
    "link-refcount",
    "1",
    "last-ping-sent",
    "0",
    "last-ok-ping-reply",
    "338",
    "last-ping-reply",
    "338",
    "down-after-milliseconds",
    "2000",
    "info-refresh",
    "2383",
    "role-reported",
    "master",
    "role-reported-time",
    "2393",
    "config-epoch",
    "0",
    "num-slaves",
    "1",
    "num-other-sentinels",
    "2",
    "quorum",
    "2",
    "failover-timeout",
    "10000",
    "parallel-syncs",
    "1",
]


# Not captured: CLUSTER NODES with an announced hostname and a slot in migration, in the
# format of the Redis 7 documentation.
LINE_WITH_HOSTNAME = (
    "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 10.0.1.7:7000@17000,acme-node-1 myself,master"
    " - 0 0 1 connected 0-5460 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]"
)


def by_id(nodes: tuple[ClusterNode, ...], prefix: str) -> ClusterNode:
    return next(n for n in nodes if n.node_id.startswith(prefix))


def test_cluster_nodes_of_a_cluster_with_a_failed_replica() -> None:
    nodes = parse_cluster_nodes(CLUSTER_NODES_FAILED_REPLICA)
    assert len(nodes) == 6
    me = next(n for n in nodes if n.myself)
    assert (me.node_id[:8], me.ip, me.port, me.bus_port) == ("f99d2ec9", "127.0.0.1", 31858, 41858)
    assert me.is_primary and me.slots == ((0, 5460),) and me.slot_count == 5461
    assert me.primary_id is None and me.config_epoch == 1 and not me.unsettled
    failed = by_id(nodes, "0092236c")
    assert failed.is_replica and failed.failed and failed.unsettled
    assert failed.primary_id == "360597edf128d1afd9db01144ae0e375cde1fd35"
    assert failed.link_state == "disconnected" and failed.config_epoch == 3
    assert sum(n.slot_count for n in nodes) == 16384


def test_cluster_nodes_handshake_and_fresh_node() -> None:
    handshake = by_id(parse_cluster_nodes(CLUSTER_NODES_HANDSHAKE), "21a63a67")
    assert handshake.flags == {"handshake"} and handshake.unsettled and not handshake.failed
    (fresh,) = parse_cluster_nodes(CLUSTER_NODES_FRESH)
    assert fresh.myself and fresh.ip == "" and fresh.port == 31624 and fresh.unsettled
    assert fresh.slots == ()


def test_cluster_node_line_with_hostname_and_migrating_slot() -> None:
    node = parse_cluster_node_line(LINE_WITH_HOSTNAME)
    assert (node.ip, node.port, node.bus_port, node.hostname) == (
        "10.0.1.7",
        7000,
        17000,
        "acme-node-1",
    )
    assert node.slots == ((0, 5460),)  # the migration marker is not ownership
    assert node.open_slots == (
        OpenSlot(5461, "migrating", "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1"),
    )
    importing = parse_cluster_node_line(LINE_WITH_HOSTNAME.replace("->-", "-<-"))
    assert importing.open_slots[0].state == "importing"
    with pytest.raises(ValueError, match="not a slot marker"):
        parse_cluster_node_line(LINE_WITH_HOSTNAME.replace("->-", "-?-"))
    with pytest.raises(ValueError, match="not a CLUSTER NODES line"):
        parse_cluster_node_line("garbage")


def test_cluster_info_ok_and_fresh() -> None:
    info = parse_cluster_info(CLUSTER_INFO)
    assert info.ok and info.known_nodes == 6 and info.size == 3
    assert (info.current_epoch, info.my_epoch, info.slots_pfail) == (5, 1, 0)
    fresh = parse_cluster_info(CLUSTER_INFO_FRESH)
    assert not fresh.ok and fresh.state == "fail" and fresh.slots_assigned == 0


def test_info_fields() -> None:
    info = parse_info(INFO_PRIMARY)
    assert info["redis_mode"] == "cluster" and info["role"] == "master"
    assert info_int(info, "maxmemory") == 64 * 1024 * 1024
    assert info_int(info, "missing", -1) == -1 and info_int(info, "role", 7) == 7
    assert "# Server" not in info and "" not in info
    replica0 = parse_info_fields(info["slave0"])
    assert replica0 == {
        "ip": "127.0.0.1",
        "port": "23830",
        "state": "online",
        "offset": "0",
        "lag": "1",
    }
    replica = parse_info(INFO_REPLICATION_REPLICA)
    assert replica["master_link_status"] == "up"
    assert replica["master_replid"] == info["master_replid"]


def test_cluster_shards_in_resp2_and_resp3_shapes() -> None:
    shards = parse_cluster_shards(CLUSTER_SHARDS)
    assert [s.slots for s in shards] == [((0, 5460),), ((5461, 10922),), ((10923, 16383),)]
    first = shards[0].nodes[0]
    assert (first.role, first.port, first.health, first.ip) == (
        "master",
        31858,
        "online",
        "127.0.0.1",
    )
    assert shards[2].nodes[1].health == "fail"
    resp3 = [{"slots": [0, 10, 20, 30], "nodes": [{"id": "x", "port": 7000, "role": "master"}]}]
    (shard,) = parse_cluster_shards(resp3)
    assert shard.slots == ((0, 10), (20, 30)) and shard.nodes[0].port == 7000


def test_roles() -> None:
    primary = parse_role(ROLE_MASTER)
    assert primary.kind == "primary" and primary.replicas[0].port == 23830
    replica = parse_role(ROLE_REPLICA)
    assert (replica.kind, replica.primary_port, replica.link_state) == (
        "replica",
        31858,
        "connected",
    )
    sentinel = parse_role(ROLE_SENTINEL)
    assert sentinel.kind == "sentinel" and sentinel.monitored == ("mymaster",)
    with pytest.raises(ValueError, match="unknown ROLE"):
        parse_role(["leader"])


def test_sentinel_master_pairs() -> None:
    fields = parse_pairs(SENTINEL_MASTER)
    assert fields["flags"] == "master" and fields["num-other-sentinels"] == "2"
    assert fields["runid"] == "6016e412a5cd905ccb7f7d52ddaa24a1acb95e6a"


def test_slot_ranges() -> None:
    assert ranges_of([7, 0, 1, 2, 2]) == ((0, 2), (7, 7))
    assert ranges_of(slots_of([(0, 5460), (5461, 16383)])) == ((0, 16383),)
    assert format_ranges(((0, 2), (7, 7))) == "0-2,7" and format_ranges(()) == "-"
