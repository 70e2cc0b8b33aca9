"""The classic slot-move protocol against real local cluster nodes: keys moved, nothing
lost, BUSYKEY, a MIGRATE timeout, and a re-run that finishes a move left open."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest

from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.migrate import MoveEnds, MoveError, move_batch, move_slot
from swarmredis.engine.redis.replies import parse_cluster_nodes
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import Credentials, RedisAccess, RedisNode
from swarmredis.pki import acl

from .servers import Lab, cluster_members

pytestmark = pytest.mark.anyio

TAG = "{shop}"  # every key below hashes to this tag's slot


@pytest.fixture
async def members(lab: Lab, access: RedisAccess) -> list[ClusterMember]:
    found = cluster_members(lab.cluster(shards=3, replicas=1))
    await bootstrap_cluster(found, access, wait_timeout=30)
    return found


@asynccontextmanager
async def connected(
    access: RedisAccess, members: list[ClusterMember]
) -> AsyncIterator[dict[str, RedisNode]]:
    async with AsyncExitStack() as stack:
        nodes = {}
        for m in members:
            nodes[m.name] = await stack.enter_async_context(access.connect(m.name, m.endpoint))
        yield nodes


async def owner_of(nodes: dict[str, RedisNode], slot: int) -> tuple[str, str]:
    """(name, node id) of the primary that serves ``slot``, as node-1 sees it."""
    table = parse_cluster_nodes(str(await nodes["node-1"].execute("CLUSTER", "NODES")))
    ids = {str(await n.execute("CLUSTER", "MYID")): name for name, n in nodes.items()}
    owner = next(n for n in table if n.is_primary and any(a <= slot <= b for a, b in n.slots))
    return ids[owner.node_id], owner.node_id


async def ends_for(
    nodes: dict[str, RedisNode],
    members: list[ClusterMember],
    access: RedisAccess,
    source: str,
    target: str,
) -> MoveEnds:
    by_name = {m.name: m for m in members}
    ids = {name: str(await n.execute("CLUSTER", "MYID")) for name, n in nodes.items()}
    others = [
        nodes[m.name] for m in members if m.role == "primary" and m.name not in (source, target)
    ]
    return MoveEnds(
        source=nodes[source],
        source_id=ids[source],
        target=nodes[target],
        target_id=ids[target],
        target_host=by_name[target].meet_ip,
        target_port=by_name[target].meet_port,
        migrate_as=access.credentials,
        others=others,
    )


async def tag_move(
    nodes: dict[str, RedisNode], members: list[ClusterMember], access: RedisAccess
) -> tuple[int, MoveEnds]:
    """The slot of TAG and a move of it from the primary that serves it to another one."""
    slot = int(str(await nodes["node-1"].execute("CLUSTER", "KEYSLOT", TAG)))
    source, _ = await owner_of(nodes, slot)
    target = next(m.name for m in members if m.role == "primary" and m.name != source)
    return slot, await ends_for(nodes, members, access, source, target)


async def write_keys(node: RedisNode, count: int) -> dict[str, str]:
    """``count`` keys of TAG's slot on ``node``; their values by key."""
    values = {f"{TAG}:{i}": str(i) for i in range(count)}
    for key, value in values.items():
        await node.execute("SET", key, value)
    return values


async def open_slots(nodes: dict[str, RedisNode]) -> list[str]:
    found = []
    for name, node in nodes.items():
        for line in parse_cluster_nodes(str(await node.execute("CLUSTER", "NODES"))):
            if line.myself and line.open_slots:
                found.append(f"{name}: {line.open_slots}")
    return found


async def test_a_slot_and_its_keys_move_and_every_node_learns_the_new_owner(
    access: RedisAccess, members: list[ClusterMember]
) -> None:
    async with connected(access, members) as nodes:
        slot, ends = await tag_move(nodes, members, access)
        values = await write_keys(ends.source, 95)  # one MIGRATE (KEYS_PER_MIGRATE is 100)

        moved = await move_slot(ends, slot, migrate_timeout_ms=5000)

        assert moved == 95
        assert await ends.source.execute("CLUSTER", "COUNTKEYSINSLOT", str(slot)) == 0
        assert await ends.target.execute("CLUSTER", "COUNTKEYSINSLOT", str(slot)) == 95
        for key, value in values.items():
            assert await ends.target.execute("GET", key) == value
        for name in ("node-1", "node-2", "node-3"):  # primaries told; replicas by gossip
            table = parse_cluster_nodes(str(await nodes[name].execute("CLUSTER", "NODES")))
            owner = next(n for n in table if any(a <= slot <= b for a, b in n.slots))
            assert owner.node_id == ends.target_id, name
        assert await open_slots(nodes) == []
        again = await move_slot(ends, slot, migrate_timeout_ms=5000)  # already there
        assert again == 0


async def test_busykey_with_the_same_value_is_replaced_and_with_another_stops_the_move(
    access: RedisAccess, members: list[ClusterMember]
) -> None:
    async with connected(access, members) as nodes:
        slot, ends = await tag_move(nodes, members, access)
        await ends.source.execute("SET", f"{TAG}:same", "one")
        await ends.source.execute("SET", f"{TAG}:differs", "source")
        # the target holds copies, as a MIGRATE whose reply was lost leaves them
        await ends.target.execute("CLUSTER", "SETSLOT", str(slot), "IMPORTING", ends.source_id)
        for key, value in ((f"{TAG}:same", "one"), (f"{TAG}:differs", "target")):
            payload = await _dump(ends.source, value)
            await ends.target.execute("ASKING")
            await ends.target.execute("RESTORE", key, "0", payload)

        with pytest.raises(MoveError, match=r"key '\{shop\}:differs' is on .* different values"):
            await move_slot(ends, slot, migrate_timeout_ms=5000)
        assert await open_slots(nodes)  # left open, not finalised
        assert await ends.source.execute("GET", f"{TAG}:differs") == "source"  # not replaced

        await ends.target.execute("ASKING")
        await ends.target.execute("DEL", f"{TAG}:differs")
        assert await move_slot(ends, slot, migrate_timeout_ms=5000) == 2  # the re-run ends it
        assert await ends.target.execute("GET", f"{TAG}:differs") == "source"
        assert await ends.target.execute("GET", f"{TAG}:same") == "one"
        assert await open_slots(nodes) == []


async def _dump(node: RedisNode, value: str) -> bytes:
    """The DUMP payload of ``value`` (made on a scratch key of the same slot)."""
    scratch = f"{TAG}:scratch"
    await node.execute("SET", scratch, value)
    payload = await node.execute("DUMP", scratch, raw=True)
    await node.execute("DEL", scratch)
    assert isinstance(payload, bytes)
    return payload


async def test_a_migrate_timeout_stops_the_move_and_a_re_run_finishes_it(
    access: RedisAccess, members: list[ClusterMember]
) -> None:
    async with connected(access, members) as nodes:
        slot, ends = await tag_move(nodes, members, access)
        values = await write_keys(ends.source, 20)
        await ends.target.execute("CLIENT", "PAUSE", "3000", "WRITE")  # the target stalls

        with pytest.raises(MoveError, match=r"slot \d+: MIGRATE to node-\d failed: .*IOERR"):
            await move_slot(ends, slot, migrate_timeout_ms=300)
        assert len(await open_slots(nodes)) == 2  # migrating on one, importing on the other

        await ends.target.execute("CLIENT", "UNPAUSE")
        assert await move_slot(ends, slot, migrate_timeout_ms=5000) == 20
        assert await open_slots(nodes) == []
        for key, value in values.items():
            assert await ends.target.execute("GET", key) == value


async def test_the_migration_user_can_restore_a_moved_key_and_nothing_else(
    access: RedisAccess, members: list[ClusterMember]
) -> None:
    """MIGRATE ... AUTH2 migration: the least-privilege user the moves log in as."""
    secret = "m1gr4t10n-" + "x" * 20
    async with connected(access, members) as nodes:
        for node in nodes.values():
            rules = acl.MIGRATION_USER.rules().split()
            await node.execute("ACL", "SETUSER", acl.MIGRATION, "reset", *rules, f">{secret}")
        slot, ends = await tag_move(nodes, members, access)
        await write_keys(ends.source, 15)
        as_migration = dataclasses.replace(ends, migrate_as=Credentials(acl.MIGRATION, secret))
        assert await move_slot(as_migration, slot, migrate_timeout_ms=5000) == 15
        assert await ends.target.execute("GET", f"{TAG}:7") == "7"

    only = RedisAccess(access.tls, Credentials(acl.MIGRATION, secret), timeout=3)
    async with only.connect(ends.target.name, ends.target.endpoint) as node:
        for command in (
            ("GET", f"{TAG}:7"),
            ("SET", "k", "v"),
            ("CLUSTER", "NODES"),
            ("DUMP", "k"),
        ):
            with pytest.raises(RedisError, match="not permitted"):
                await node.execute(*command)


async def test_a_key_too_big_to_move_stops_the_batch_before_its_slots_open(
    access: RedisAccess, members: list[ClusterMember]
) -> None:
    """A key over the bound is named with its slot and size before any SETSLOT: nothing
    is open, nothing moved; with the bound above it, the same move goes through."""
    async with connected(access, members) as nodes:
        slot, ends = await tag_move(nodes, members, access)
        small = await write_keys(ends.source, 5)
        await ends.source.execute("SET", f"{TAG}:big", "x" * 2_000_000)

        with pytest.raises(MoveError, match=rf"slot {slot}: key '{{shop}}:big' on node-\d takes"):
            await move_batch(ends, [slot], migrate_timeout_ms=5000, max_key_bytes=1_000_000)
        assert await open_slots(nodes) == []
        assert await ends.source.execute("CLUSTER", "COUNTKEYSINSLOT", str(slot)) == 6

        moved = await move_batch(ends, [slot], migrate_timeout_ms=5000, max_key_bytes=4_000_000)
        assert moved == 6 and await open_slots(nodes) == []
        for key, value in small.items():
            assert await ends.target.execute("GET", key) == value
