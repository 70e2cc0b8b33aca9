"""The coordinated Sentinel handover on real local servers: no acknowledged write lost."""

from __future__ import annotations

import anyio
import pytest
from testkit import eventually

from swarmredis.engine.context import RunContext
from swarmredis.engine.events import Event
from swarmredis.engine.modes.base import BootstrapReport
from swarmredis.engine.modes.replication.bootstrap import bootstrap_replication
from swarmredis.engine.modes.replication.handover import _resent, hand_over, restore_primary
from swarmredis.engine.modes.replication.plan import ReplicationSet
from swarmredis.engine.redis.replies import parse_pairs, parse_role
from swarmredis.errors import RedisError, RedisUnreachable
from swarmredis.gateway.redis import RedisAccess
from swarmredis.pki import acl

from .product import MASTER_NAME
from .servers import Lab
from .test_replication import start

pytestmark = pytest.mark.anyio


@pytest.fixture
async def rs(lab: Lab, access: RedisAccess) -> ReplicationSet:
    """node-1 primary, node-2 and node-3 its replicas, three Sentinels: verified."""
    primary, replicas, sentinels = start(lab)
    await bootstrap_replication(
        primary, replicas, sentinels, access, master_name=MASTER_NAME, wait_timeout=30
    )
    return ReplicationSet([primary, *replicas], sentinels, MASTER_NAME)


async def _verify(rs: ReplicationSet, access: RedisAccess) -> BootstrapReport:
    return await bootstrap_replication(
        rs.data[0], rs.data[1:], rs.sentinels, access, master_name=MASTER_NAME, wait_timeout=30
    )


async def _role(access: RedisAccess, rs: ReplicationSet, name: str) -> str:
    member = next(m for m in rs.data if m.name == name)
    async with access.connect(name, member.endpoint) as node:
        return parse_role(await node.role()).kind


async def test_a_deployment_verified_after_a_killed_handover_can_fail_over_at_once(
    access: RedisAccess, rs: ReplicationSet
) -> None:
    """Killed handovers leave replicas at priority 0, and a Sentinel re-reads a replica's
    priority from INFO only every 10 s. The bootstrap sets them back and returns only once
    every Sentinel could promote a replica again: a SENTINEL FAILOVER right after it is
    accepted, not refused with NOGOODSLAVE."""
    for member in rs.data[1:]:
        async with access.connect(member.name, member.endpoint) as node:
            await node.execute("CONFIG", "SET", "replica-priority", "0")

    async def seen_at_zero() -> bool:
        for member in rs.sentinels:
            async with access.connect(member.name, member.endpoint) as sentinel:
                entries = await sentinel.execute("SENTINEL", "REPLICAS", MASTER_NAME)
                assert isinstance(entries, list)
                if any(parse_pairs(e).get("slave-priority") != "0" for e in entries):
                    return False
        return True

    await eventually(seen_at_zero, 30, "every Sentinel sees both replicas at priority 0")
    report = await _verify(rs, access)
    assert (
        len([a for a in report.actions if a.args[:3] == ("CONFIG", "SET", "replica-priority")]) == 2
    )
    first = rs.sentinels[0]
    async with access.connect(first.name, first.endpoint) as sentinel:
        assert await sentinel.execute("SENTINEL", "FAILOVER", MASTER_NAME) == "OK"

    async def promoted() -> bool:
        return "primary" in [await _role(access, rs, m.name) for m in rs.data[1:]]

    await eventually(promoted, 30, "a replica promoted")


async def test_a_handover_command_is_sent_again_after_sentinel_kills_our_connection(
    lab: Lab, access: RedisAccess, rs: ReplicationSet
) -> None:
    """Sentinel does CLIENT KILL TYPE normal on each node it reconfigures, at any step of a
    handover: the lost command goes out once more on a new connection."""
    node = rs.data[1]
    async with (
        access.connect(node.name, node.endpoint) as ours,
        access.connect(node.name, node.endpoint) as sentinel_like,
    ):
        await ours.ping()
        await sentinel_like.execute("CLIENT", "KILL", "TYPE", "normal")  # skips itself
        assert await _resent(ours, "CONFIG", "SET", "replica-priority", "0") == "OK"
        assert parse_pairs(await ours.execute("CONFIG", "GET", "replica-priority")) == {
            "replica-priority": "0"
        }
        await sentinel_like.execute("CLIENT", "KILL", "TYPE", "normal")
        with pytest.raises(RedisUnreachable):  # what the handover met before
            await ours.execute("CONFIG", "SET", "replica-priority", "100")


async def test_handover_and_back_lose_no_acknowledged_write(
    lab: Lab, access: RedisAccess, rs: ReplicationSet
) -> None:
    acknowledged: dict[str, str] = {}
    refused = 0
    done = anyio.Event()

    async def writer() -> None:
        """Writes to whichever node is primary now (as a Sentinel-aware client would)."""
        nonlocal refused
        i = 0
        while not done.is_set():
            for member in rs.data:
                try:
                    async with access.connect(member.name, member.endpoint) as node:
                        while not done.is_set():
                            await node.execute("SET", f"w:{i}", str(i))
                            acknowledged[f"w:{i}"] = str(i)
                            i += 1
                            await anyio.sleep(0.005)
                except RedisError:  # READONLY on a replica, or the connection dropped
                    refused += 1
                    i += 1

    async def more_writes(count: int = 20) -> None:
        """Wait until the writer has had ``count`` more writes acknowledged."""
        target = len(acknowledged) + count
        await eventually(lambda: _holds(len(acknowledged) >= target), what=f"{count} writes")

    events: list[Event] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(writer)
        await more_writes()
        old = await hand_over(rs, access, "node-3", step_timeout=30)
        await more_writes()  # to node-3, the primary now
        restored = await restore_primary(RunContext.create(access, report=events.append), rs)
        await more_writes()  # to node-1 again
        done.set()

    assert old == "node-1"
    assert [a.node for a in restored] == ["node-1"]
    assert [e.detail for e in events] == ["primary again (was node-3)"]
    report = await _verify(rs, access)
    assert not [n for n in report.notes if "failover" in n]
    assert await _role(access, rs, "node-1") == "primary"
    for name in ("node-2", "node-3"):
        async with access.connect(name, rs.data[int(name[-1]) - 1].endpoint) as node:
            priority = parse_pairs(await node.execute("CONFIG", "GET", "replica-priority"))
            assert priority["replica-priority"] == "100"  # restored after each handover

    async with access.connect("node-1", rs.data[0].endpoint) as node:
        keys = list(acknowledged)
        values = await node.execute("MGET", *keys)
    assert isinstance(values, list)
    lost = [k for k, v in zip(keys, values, strict=True) if v != acknowledged[k]]
    assert len(acknowledged) > 50
    assert not lost, f"{len(lost)} of {len(keys)} acknowledged writes lost ({refused} refused)"


async def test_handover_to_a_node_that_is_not_a_linked_replica_changes_nothing(
    lab: Lab, access: RedisAccess, rs: ReplicationSet
) -> None:
    with pytest.raises(RedisError, match="node-1: not a linked replica"):
        await hand_over(rs, access, "node-1")
    assert await _role(access, rs, "node-1") == "primary"
    assert await restore_primary(RunContext.create(access), rs) == []


async def test_a_planned_primary_restarted_after_a_handover_is_made_a_replica_again(
    lab: Lab, access: RedisAccess, rs: ReplicationSet
) -> None:
    """Its file has no `replicaof`, so it starts as a second primary: the bootstrap points
    it at the primary every Sentinel names, without waiting for Sentinel to do it."""
    lab.processes["sentinel-1"].stop()  # any Sentinel that answers runs the failover
    await hand_over(rs, access, "node-2", step_timeout=30)
    lab.restart("sentinel-1")  # it still names node-1 until it hears the others

    async def sentinel_1_follows() -> bool:
        async with access.connect("sentinel-1", rs.sentinels[0].endpoint) as node:
            seen = parse_pairs(await node.execute("SENTINEL", "MASTER", MASTER_NAME))
        return seen.get("port") == str(rs.data[1].endpoint.port) and seen["flags"] == "master"

    await eventually(sentinel_1_follows)
    lab.restart("node-1")
    assert await _role(access, rs, "node-1") == "primary"  # two primaries now
    report = await _verify(rs, access)
    assert [(a.node, a.args[0]) for a in report.actions] == [("node-1", "REPLICAOF")]
    assert "failover: node-2 is primary (planned node-1)" in report.notes
    assert await _role(access, rs, "node-1") == "replica"


async def test_a_failover_sentinel_abandons_is_asked_for_again(
    lab: Lab, access: RedisAccess, rs: ReplicationSet
) -> None:
    """The target refuses Sentinel's `REPLICAOF NO ONE` while the first failover runs (its
    ACL), so Sentinel abandons that failover at its timeout (-failover-abort-slave-timeout);
    the handover pauses writes again, waits for the catch-up and asks again.

    The old primary stays paused while Sentinel waits for the promotion, and a Sentinel's
    PINGs queue behind its paused PUBLISH: after down-after-milliseconds every Sentinel
    sees the primary down, and another one may run its own failover to the same target
    (the only replica not at priority 0), ending the first one without an abort. The
    Sentinels here wait long before calling the primary down, so the abort is Sentinel's
    to decide alone, as the test needs."""
    for member in rs.sentinels:
        async with access.connect(member.name, member.endpoint) as sentinel:
            await sentinel.execute(
                "SENTINEL", "SET", MASTER_NAME, "down-after-milliseconds", "120000"
            )
    target = rs.data[1]
    async with access.connect("node-2", target.endpoint) as node:
        await node.execute("ACL", "SETUSER", acl.SENTINEL, "-slaveof", "-replicaof")

    async def failover_runs() -> bool:
        async with access.connect("sentinel-1", rs.sentinels[0].endpoint) as sentinel:
            master = parse_pairs(await sentinel.execute("SENTINEL", "MASTER", MASTER_NAME))
        return "failover_in_progress" in master["flags"]

    async def refused() -> bool:
        """Whether node-2 has refused the sentinel user's REPLICAOF NO ONE (ACL LOG)."""
        async with access.connect("node-2", target.endpoint) as node:
            log = await node.execute("ACL", "LOG")
        assert isinstance(log, list)
        entries = [parse_pairs(entry) for entry in log]
        return any(e["username"] == acl.SENTINEL and e["object"] == "slaveof" for e in entries)

    async def allow_once_the_failover_runs() -> None:
        await eventually(failover_runs)
        await eventually(refused, what="node-2 refusing the sentinel's SLAVEOF")
        async with access.connect("node-2", target.endpoint) as node:
            await node.execute("ACL", "SETUSER", acl.SENTINEL, "+slaveof", "+replicaof")

    async with anyio.create_task_group() as tg:
        tg.start_soon(allow_once_the_failover_runs)
        old = await hand_over(rs, access, "node-2", step_timeout=30)

    assert old == "node-1"
    assert await _role(access, rs, "node-2") == "primary"
    # the handover may ask any Sentinel (the first that answers): read all three
    logs = [lab.processes[s.name].log.read_text() for s in rs.sentinels]
    assert any("-failover-abort-slave-timeout" in log for log in logs), logs
    assert sum(log.count("Executing user requested FAILOVER") for log in logs) == 2


async def _holds(value: bool) -> bool:
    return value
