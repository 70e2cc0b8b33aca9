"""Scale-in on real local cluster nodes: shards 4 -> 3 drains the retiring shard with the
classic protocol (every key stays readable, the shares end even), then every kept node
forgets the retiring ids before their processes stop, and none learns them back."""

from __future__ import annotations

import anyio
import pytest

from swarmredis.engine.context import RunContext
from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster
from swarmredis.engine.modes.cluster.retire import retire_members
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import RedisAccess
from swarmredis.stackfile.topology import topology

from .product import stack_of
from .servers import Lab
from .test_scale_out import (
    assert_all_there,
    connected,
    grown_layout,
    members_of,
    owners,
    relaid,
    started,
    tables,
    write,
)

pytestmark = pytest.mark.anyio


async def four_shards(lab: Lab, access: RedisAccess):  # type: ignore[no-untyped-def]
    """A 4 x 1 cluster grown from 3 x 1 (node-7 and node-8 are shard 4), with keys, and
    its members as ``shards: 3`` lays them out (node-7, node-8 retiring)."""
    processes, grown = await started(lab, access)
    await bootstrap_cluster(grown, access, wait_timeout=60)
    async with connected(access, grown) as nodes:
        values = await write(nodes)
    four = topology(stack_of("cluster", shards=4), grown_layout())
    return processes, members_of(processes, relaid(four, 3), 3), values


async def test_a_retiring_shard_is_drained_forgotten_and_removed_with_every_key(
    lab: Lab, access: RedisAccess
) -> None:
    processes, members, values = await four_shards(lab, access)
    retiring = [m.name for m in members if m.retiring]
    assert retiring == ["node-7", "node-8"]
    kept = [m for m in members if not m.retiring]

    report = await bootstrap_cluster(members, access, wait_timeout=60, replica_migration="no")

    moves = [a for a in report.actions if a.command.startswith("move slots")]
    assert {(a.node, a.args[-1]) for a in moves} == {
        ("node-7", "node-1"),
        ("node-7", "node-2"),
        ("node-7", "node-3"),
    }
    async with connected(access, members) as nodes:
        ids = {m: str(await nodes[m].execute("CLUSTER", "MYID")) for m in retiring}
        assert "node-7" not in set((await owners(nodes)).values())
        # cluster-allow-replica-migration no: emptied, it stays a primary, with no key
        role = await nodes["node-7"].execute("ROLE")
        assert isinstance(role, list) and role[0] == "master", role
        assert await nodes["node-7"].execute("DBSIZE") == 0
    removed: list[str] = []

    async def remove() -> None:
        async with connected(access, kept) as nodes:  # forgotten before they stop
            for table in (await tables(nodes)).values():
                assert not {n.node_id for n in table} & set(ids.values())
        for name in retiring:
            processes[name].stop()
            removed.append(name)

    actions = await retire_members(RunContext.create(access), members, remove)

    assert removed == retiring
    forgets = [a for a in actions if a.args[:2] == ("CLUSTER", "FORGET")]
    assert {(a.node, a.args[2]) for a in forgets} == {
        (k.name, ids[r]) for k in kept for r in retiring
    }
    async with connected(access, kept) as nodes:
        await assert_all_there(nodes, values)
        counts: dict[str, int] = {}
        for slot_owner in (await owners(nodes)).values():
            counts[slot_owner] = counts.get(slot_owner, 0) + 1
        assert sorted(counts.values()) == [5461, 5461, 5462], counts
        await anyio.sleep(2)  # gossip rounds: nobody brings a forgotten id back
        for name, table in (await tables(nodes)).items():
            assert not {n.node_id for n in table} & set(ids.values()), name

    again = await bootstrap_cluster(kept, access, wait_timeout=30)
    assert again.nothing_to_do, again.lines()


async def test_a_retiring_primary_that_still_holds_keys_is_neither_forgotten_nor_removed(
    lab: Lab, access: RedisAccess
) -> None:
    """Keys outside any slot it serves (DBSIZE > 0 after the drain) stop the retirement
    before anything is forgotten: the error names the node and the count. (With replica
    migration off, node-7 stays a primary once drained; a stray key gets there as
    RESTORE-ASKING would put one: the slot importing, ASKING, SET, the slot stable.)"""
    _, members, _ = await four_shards(lab, access)
    await bootstrap_cluster(members, access, wait_timeout=60, replica_migration="no")
    async with connected(access, members) as nodes:
        one = str(await nodes["node-1"].execute("CLUSTER", "MYID"))
        await nodes["node-7"].execute("CLUSTER", "SETSLOT", "0", "IMPORTING", one)
        for key in ("{06S}a", "{06S}b", "{06S}c"):  # slot 0
            await nodes["node-7"].execute("ASKING")
            await nodes["node-7"].execute("SET", key, "stray")
        await nodes["node-7"].execute("CLUSTER", "SETSLOT", "0", "STABLE")

    async def remove() -> None:
        raise AssertionError("nothing may be removed")

    with pytest.raises(RedisError) as refused:
        await retire_members(RunContext.create(access), members, remove)

    assert refused.value.message == "node-7 retires with no slots but holds 3 keys"
    async with connected(access, members) as nodes:
        seven = str(await nodes["node-7"].execute("CLUSTER", "MYID"))
        for name, table in (await tables(nodes)).items():
            assert seven in {n.node_id for n in table}, name  # nobody forgot it


async def test_a_retirement_killed_after_the_forgetting_is_finished_by_the_next_run(
    lab: Lab, access: RedisAccess
) -> None:
    """As a SIGKILL of swarmredis right before the services go: every kept node forgot
    node-7 and node-8, which still run. The next bootstrap does not MEET them back, and
    the next retirement finds nothing left to forget and removes them."""
    processes, members, values = await four_shards(lab, access)
    await bootstrap_cluster(members, access, wait_timeout=60, replica_migration="no")
    kept = [m for m in members if not m.retiring]

    class Killed(Exception):
        pass

    async def killed() -> None:
        raise Killed

    with pytest.raises(Killed):
        await retire_members(RunContext.create(access), members, killed)
    async with connected(access, members) as nodes:
        ids = {str(await nodes[n].execute("CLUSTER", "MYID")) for n in ("node-7", "node-8")}

    again = await bootstrap_cluster(members, access, wait_timeout=30, replica_migration="no")

    assert again.nothing_to_do, again.lines()  # no MEET of a forgotten node
    stopped: list[str] = []

    async def remove() -> None:
        for name in ("node-7", "node-8"):
            processes[name].stop()
            stopped.append(name)

    actions = await retire_members(RunContext.create(access), members, remove)
    assert stopped == ["node-7", "node-8"]
    assert not [a for a in actions if a.args[:2] == ("CLUSTER", "FORGET")], actions
    async with connected(access, kept) as nodes:
        await assert_all_there(nodes, values)
        for name, table in (await tables(nodes)).items():
            assert not {n.node_id for n in table} & ids, name
