"""Health reports against real nodes: healthy, degraded, down, and how failures show."""

from __future__ import annotations

import dataclasses
import json

import pytest

from swarmredis.engine.modes.base import Member
from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.registry import mode_for
from swarmredis.engine.modes.standalone import bootstrap_standalone
from swarmredis.engine.redis.health import check_health
from swarmredis.engine.redis.verdict import HealthTarget, Status
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import Credentials, RedisAccess
from swarmredis.pki import acl

from .product import STANDALONE
from .servers import Lab, cluster_members

pytestmark = pytest.mark.anyio


def targets_of(members: list[ClusterMember]) -> list[HealthTarget]:
    return [
        HealthTarget(
            m.name,
            m.endpoint,
            m.role,
            primary=m.primary,
            host="lab-host",
            task_state="running",
        )
        for m in members
    ]


async def test_bootstrapped_cluster_is_healthy(lab: Lab, access: RedisAccess) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    await bootstrap_cluster(members, access, wait_timeout=30)
    report = await check_health(mode_for("cluster"), targets_of(members), access, stack="acme")

    assert report.status is Status.HEALTHY, report.problems
    assert report.exit_code == 0
    assert report.cluster is not None
    assert report.cluster.state == "ok" and report.cluster.slots_ok == 16384
    assert report.cluster.nodes_agree and report.cluster.known_nodes == 6
    lines = {n.name: n for n in report.nodes}
    assert all(n.reachable and n.tls_ok and n.auth_ok for n in lines.values())
    assert [lines[f"node-{i}"].replicates for i in (4, 5, 6)] == ["node-1", "node-2", "node-3"]
    assert lines["node-4"].link_up and lines["node-4"].lag_bytes is not None
    assert lines["node-1"].slots == members[0].slots
    assert lines["node-1"].maxmemory == 64 * 1024 * 1024
    assert lines["node-1"].uptime_seconds is not None
    data = json.loads(json.dumps(report.to_dict()))
    assert data["status"] == "healthy" and data["stack"] == "acme"
    assert data["nodes"][0]["host"] == "lab-host"
    assert data["nodes"][0]["slot_count"] == members[0].slots[0][1] + 1


async def test_an_open_slot_is_degraded_naming_the_slot_and_both_nodes(
    lab: Lab, access: RedisAccess
) -> None:
    """A move that was interrupted leaves [slot->-id] on the source and [slot-<-id] on
    the target (CLUSTER NODES, myself line): clients get ASK, redis-cli refuses to run."""
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    await bootstrap_cluster(members, access, wait_timeout=30)
    source, target = members[0], members[1]
    ids = {}
    for m in (source, target):
        async with access.connect(m.name, m.endpoint) as node:
            ids[m.name] = await node.execute("CLUSTER", "MYID")
    async with (
        access.connect(source.name, source.endpoint) as src,
        access.connect(target.name, target.endpoint) as dst,
    ):
        await dst.execute("CLUSTER", "SETSLOT", "100", "IMPORTING", ids[source.name])
        await src.execute("CLUSTER", "SETSLOT", "100", "MIGRATING", ids[target.name])
        report = await check_health(mode_for("cluster"), targets_of(members), access)
        assert report.status is Status.DEGRADED
        assert [(p.kind, p.node, p.message) for p in report.problems] == [
            ("slots", "node-1", "slot 100 is open: migrating to node-2"),
            ("slots", "node-2", "slot 100 is open: importing from node-1"),
        ]
        for node in (dst, src):
            await node.execute("CLUSTER", "SETSLOT", "100", "STABLE")
    report = await check_health(mode_for("cluster"), targets_of(members), access)
    assert report.status is Status.HEALTHY, report.problems


async def test_killed_replica_makes_the_cluster_degraded(lab: Lab, access: RedisAccess) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=1))
    await bootstrap_cluster(members, access, wait_timeout=30)
    lab.processes["node-5"].stop()
    targets = targets_of(members)
    targets[4] = dataclasses.replace(targets[4], task_state="failed")
    report = await check_health(mode_for("cluster"), targets, access, node_timeout=2)

    assert report.status is Status.DEGRADED, report.problems
    assert report.exit_code == 1
    line = next(n for n in report.nodes if n.name == "node-5")
    assert not line.reachable and "TCP connection refused" in (line.error or "")
    assert {p.node for p in report.problems} == {"node-5"}
    assert any("task is failed" in p.message for p in report.problems)


async def test_killed_primary_without_replica_is_down(lab: Lab, access: RedisAccess) -> None:
    members = cluster_members(lab.cluster(shards=3, replicas=0), shards=3, replicas=0)
    await bootstrap_cluster(members, access, wait_timeout=30)
    lab.processes["node-2"].stop()
    report = await check_health(mode_for("cluster"), targets_of(members), access, node_timeout=2)

    assert report.status is Status.DOWN
    assert report.exit_code == 2
    ((first, last),) = members[1].slots  # as the plan splits them: 5462-10922
    slots = f"{first}-{last}"
    assert any(p.severity is Status.DOWN and slots in p.message for p in report.problems), (
        report.problems
    )


async def test_wrong_password_shows_tls_ok_but_auth_failed(lab: Lab, access: RedisAccess) -> None:
    node = lab.add_node("node-1", STANDALONE)
    member = Member("node-1", node.endpoint)
    assert (await bootstrap_standalone(member, access)).nothing_to_do
    target = HealthTarget("node-1", member.endpoint, "primary")
    assert (await check_health(mode_for("standalone"), [target], access)).status is Status.HEALTHY

    bad = dataclasses.replace(access, credentials=Credentials(acl.ADMIN, "wrong"))
    report = await check_health(mode_for("standalone"), [target], bad)
    line = report.nodes[0]
    assert report.status is Status.DOWN
    assert (line.reachable, line.tls_ok, line.auth_ok) == (True, True, False)
    with pytest.raises(RedisError, match="auth failed"):
        await bootstrap_standalone(member, bad, ready_timeout=2)
