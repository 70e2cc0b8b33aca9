"""Scale-out on real local cluster nodes: a fourth shard joins empty, the fewest slots move
to it with the classic protocol, every key stays readable, and a bootstrap cancelled in
the middle of the moves is finished by the next one."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import pytest
from redis.crc import key_slot
from testkit import eventually

from swarmredis import labels
from swarmredis.constants import CLUSTER_SLOTS
from swarmredis.engine.events import Event
from swarmredis.engine.modes.cluster import reshard
from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.redis.replies import parse_cluster_nodes
from swarmredis.errors import SwarmRedisError
from swarmredis.gateway.redis import RedisAccess, RedisNode
from swarmredis.plan.observe import ObservedObject
from swarmredis.plan.placement import planned_slots
from swarmredis.plan.seating import seating
from swarmredis.stackfile.topology import Layout, LogicalNode, topology

from .product import stack_of
from .servers import LOOPBACK, Lab, RedisProcess

pytestmark = pytest.mark.anyio

KEYS = 3000


def members_of(
    processes: dict[str, RedisProcess], layout: Layout | None, shards: int
) -> list[ClusterMember]:
    """The members of a ``shards`` x 1 cluster laid out as ``layout`` (the planned slots
    are the bootstrap's for a fresh cluster: contiguous ranges in seat order)."""
    nodes = topology(stack_of("cluster", shards=shards), layout)
    slots = planned_slots([n.name for n in nodes if n.role == "primary" and not n.retiring])
    return [
        ClusterMember(
            name=n.name,
            endpoint=processes[n.name].endpoint,
            meet_ip=LOOPBACK,
            meet_port=processes[n.name].port,
            bus_port=processes[n.name].port + 10000,
            role="primary" if n.role == "primary" else "replica",
            primary=n.primary,
            slots=(slots[n.name],) if n.name in slots else (),
            retiring=n.retiring,
        )
        for n in nodes
    ]


def grown_layout() -> Layout:
    """shards: 3 -> 4 on the 3 x 1 stack as deployed: its services' labels, read back."""
    return relaid(topology(stack_of("cluster", shards=3)), 4)


def relaid(deployed: Sequence[LogicalNode], shards: int) -> Layout:
    """The layout ``seating`` gives ``shards`` x 1 on a stack whose services are these."""
    services = [
        ObservedObject(
            "service",
            n.name,
            n.service,
            1,
            {
                labels.ROLE: n.kind,
                labels.NODE: n.name,
                labels.PLANNED_ROLE: n.role,
                labels.SHARD: str(n.shard),
            },
            {},
        )
        for n in deployed
    ]
    return seating(stack_of("cluster", shards=shards), services).layout


@asynccontextmanager
async def connected(
    access: RedisAccess, members: list[ClusterMember]
) -> AsyncIterator[dict[str, RedisNode]]:
    async with AsyncExitStack() as stack:
        yield {
            m.name: await stack.enter_async_context(access.connect(m.name, m.endpoint))
            for m in members
        }


async def tables(nodes: dict[str, RedisNode]) -> dict[str, list]:  # type: ignore[type-arg]
    return {
        name: parse_cluster_nodes(str(await node.execute("CLUSTER", "NODES")))
        for name, node in nodes.items()
    }


async def owners(nodes: dict[str, RedisNode]) -> dict[int, str]:
    """Slot -> the member that serves it, as every member's own line says."""
    ids = {str(await n.execute("CLUSTER", "MYID")): name for name, n in nodes.items()}
    found: dict[int, str] = {}
    for table in (await tables(nodes)).values():
        me = next(n for n in table if n.myself)
        for start, end in me.slots if me.is_primary else ():
            for slot in range(start, end + 1):
                found[slot] = ids[me.node_id]
    return found


async def write(nodes: dict[str, RedisNode]) -> dict[str, str]:
    where = await owners(nodes)
    values = {f"key:{i}": f"value {i}" for i in range(KEYS)}
    for key, value in values.items():
        await nodes[where[key_slot(key.encode())]].execute("SET", key, value)
    return values


async def assert_all_there(nodes: dict[str, RedisNode], values: dict[str, str]) -> None:
    where = await owners(nodes)
    assert len(where) == CLUSTER_SLOTS
    for key, value in values.items():
        assert await nodes[where[key_slot(key.encode())]].execute("GET", key) == value, key
    for name, table in (await tables(nodes)).items():
        me = next(n for n in table if n.myself)
        assert me.open_slots == (), (name, me.open_slots)


async def open_on(node: RedisNode) -> tuple[tuple[int, str, str], ...]:
    table = parse_cluster_nodes(str(await node.execute("CLUSTER", "NODES")))
    me = next(n for n in table if n.myself)
    return tuple((o.slot, o.state, o.peer_id) for o in me.open_slots)


async def started(
    lab: Lab, access: RedisAccess
) -> tuple[dict[str, RedisProcess], list[ClusterMember]]:
    """A bootstrapped 3 x 1 cluster, and node-7 and node-8 of shard 4 started beside it."""
    processes = {p.name: p for p in lab.cluster(shards=3, replicas=1)}
    await bootstrap_cluster(members_of(processes, None, 3), access, wait_timeout=30)
    layout, four = grown_layout(), stack_of("cluster", shards=4)
    for name in ("node-7", "node-8"):
        processes[name] = lab.add_node(name, four, layout)
    return processes, members_of(processes, layout, 4)


async def test_a_fourth_shard_gets_an_even_share_and_every_key_stays(
    lab: Lab, access: RedisAccess
) -> None:
    processes, members = await started(lab, access)
    events: list[Event] = []
    async with connected(access, members) as nodes:
        values = await write(nodes)

    report = await bootstrap_cluster(members, access, wait_timeout=60, progress=events.append)

    moves = [a for a in report.actions if a.command.startswith("move slots")]
    assert [(a.node, a.args[-1]) for a in moves] == [
        ("node-1", "node-7"),
        ("node-2", "node-7"),
        ("node-3", "node-7"),
    ]
    assert sum(int(a.reason.split()[0]) for a in moves) == 4096  # the fewest: 16384 / 4
    async with connected(access, members) as nodes:
        await assert_all_there(nodes, values)
        counts: dict[str, int] = {}
        for slot_owner in (await owners(nodes)).values():
            counts[slot_owner] = counts.get(slot_owner, 0) + 1
        assert counts == {"node-1": 4096, "node-2": 4096, "node-3": 4096, "node-7": 4096}
        role = await nodes["node-8"].execute("ROLE")
        assert isinstance(role, list) and role[0] == "slave"
        assert role[2] == processes["node-7"].port
        users = await nodes["node-7"].execute("ACL", "USERS")
        assert "migration" not in users  # the moves' user is gone with them
    told = [e.data for e in events if e.subject == "slots" and e.status == "info"]
    assert told and told[-1]["slots"] == 4096 and told[-1]["keys"] > 0
    assert "keys_per_s" in told[-1]

    again = await bootstrap_cluster(members, access, wait_timeout=30)
    assert again.nothing_to_do, again.lines()


async def test_moves_cancelled_midway_are_finished_by_the_next_bootstrap(
    lab: Lab, access: RedisAccess
) -> None:
    """As a SIGKILL of swarmredis would: the run stops between any two commands of a move
    (the first progress event comes after a second of moving); nothing is lost and the
    next bootstrap ends the open slot and the remaining moves."""
    _, members = await started(lab, access)
    async with connected(access, members) as nodes:
        values = await write(nodes)

    with anyio.CancelScope() as scope:

        def cancel_once_moving(event: Event) -> None:
            if event.subject == "slots" and event.status == "info":
                scope.cancel()

        await bootstrap_cluster(members, access, wait_timeout=60, progress=cancel_once_moving)
    assert scope.cancelled_caught
    async with connected(access, members) as nodes:
        part = await owners(nodes)
        assert 0 < sum(1 for name in part.values() if name == "node-7") < 4096

    report = await bootstrap_cluster(members, access, wait_timeout=60)

    assert any(a.command.startswith("move slots") for a in report.actions)
    async with connected(access, members) as nodes:
        await assert_all_there(nodes, values)
        assert sum(1 for name in (await owners(nodes)).values() if name == "node-7") == 4096


async def test_a_move_killed_after_the_target_took_its_slot_is_ended_too(
    lab: Lab, access: RedisAccess
) -> None:
    """Killed between the target's SETSLOT NODE and the source's: the target owns the slot,
    and the source keeps showing it migrating (Redis 7.0 keeps the marker when gossip
    tells it the new owner), which the new plan would never touch. The bootstrap ends it
    (the source's SETSLOT NODE) before planning the moves."""
    _, members = await started(lab, access)
    async with connected(access, members) as nodes:
        ids = {name: str(await n.execute("CLUSTER", "MYID")) for name, n in nodes.items()}
        for name in ("node-7", "node-8"):  # as the deploy's bootstrap would: met, empty
            await nodes[name].execute("CLUSTER", "MEET", LOOPBACK, str(members[0].meet_port))

        async def known_both_ways() -> bool:  # SETSLOT names a node the receiver knows
            seven = str(await nodes["node-7"].execute("CLUSTER", "NODES"))
            one = str(await nodes["node-1"].execute("CLUSTER", "NODES"))
            return ids["node-1"] in seven and ids["node-7"] in one

        await eventually(known_both_ways, 10, "node-1 and node-7 knowing each other")
        slot = 5461  # node-1's highest (it serves 0-5461): the first it would give
        await nodes["node-7"].execute("CLUSTER", "SETSLOT", str(slot), "IMPORTING", ids["node-1"])
        await nodes["node-1"].execute("CLUSTER", "SETSLOT", str(slot), "MIGRATING", ids["node-7"])
        await nodes["node-7"].execute("CLUSTER", "SETSLOT", str(slot), "NODE", ids["node-7"])
        left = await open_on(nodes["node-1"])
    assert left == ((slot, "migrating", ids["node-7"]),)

    report = await bootstrap_cluster(members, access, wait_timeout=60)

    ended = [str(a) for a in report.actions if a.command == f"move slot {slot} to node-7"]
    assert ended == [
        f"node-1: move slot {slot} to node-7 (slot {slot} left open by an interrupted run, 0 keys)"
    ], report.lines()
    async with connected(access, members) as nodes:
        await assert_all_there(nodes, {})  # no node shows a slot open
        counts: dict[str, int] = {}
        for slot_owner in (await owners(nodes)).values():
            counts[slot_owner] = counts.get(slot_owner, 0) + 1
        assert sorted(counts.values()) == [4096] * 4


@pytest.mark.parametrize("restarted", ["node-1", "node-7"])
async def test_a_primary_restarted_while_slots_move_ends_with_every_key(
    lab: Lab, access: RedisAccess, restarted: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source (node-1) or the target (node-7) of the first move restarts while the
    moves run (``SHUTDOWN SAVE``, as Swarm's SIGTERM stops a node with persistence, then
    started again on its files): the bootstrap stops or goes on; the next one ends every
    open slot. No key is lost and the shares end even. (Progress after every batch: the
    restart starts after node-1's first batch to node-7, of 22.)"""
    monkeypatch.setattr(reshard, "PROGRESS_EVERY_S", 0.0)
    processes, members = await started(lab, access)
    async with connected(access, members) as nodes:
        values = await write(nodes)
    process, member = processes[restarted], next(m for m in members if m.name == restarted)
    moving, back = anyio.Event(), anyio.Event()

    async def restart() -> None:
        await moving.wait()
        async with access.connect(member.name, member.endpoint) as node:
            with contextlib.suppress(SwarmRedisError):  # the connection goes with the node
                await node.execute("SHUTDOWN", "SAVE")
        proc = process.proc
        assert proc is not None
        await anyio.to_thread.run_sync(lambda: proc.wait(10))
        process.proc = None
        await anyio.to_thread.run_sync(process.start)
        back.set()

    def on_event(event: Event) -> None:
        if event.subject == "slots" and event.status == "info":
            moving.set()

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            tg.start_soon(restart)
            # as seen here: the source's connection lost, or MIGRATE refused (IOERR)
            with contextlib.suppress(SwarmRedisError):
                await bootstrap_cluster(members, access, wait_timeout=60, progress=on_event)
            moving.set()  # ended before a progress event: restart now all the same
            await back.wait()

    await bootstrap_cluster(members, access, wait_timeout=60)

    async with connected(access, members) as nodes:
        await assert_all_there(nodes, values)
        counts: dict[str, int] = {}
        for slot_owner in (await owners(nodes)).values():
            counts[slot_owner] = counts.get(slot_owner, 0) + 1
        assert sorted(counts.values()) == [4096] * 4, counts
