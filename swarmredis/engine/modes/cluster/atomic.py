"""Atomic slot migration (Valkey 9 ``CLUSTER MIGRATESLOTS``), where every primary has it.

Valkey 9 moves slot ranges as one job that the source runs: a snapshot of the slots,
then the writes made since, then a brief write pause while the target takes the slots
over. Clients see no ``-ASK`` and no ``-TRYAGAIN``; a job that fails leaves the slots with
the source. The engine starts one job per planned move on its source and waits for it
in the source's ``CLUSTER GETSLOTMIGRATIONS`` (``state``: ``success``, ``failed`` or
``cancelled`` at the end). Redis 7 and Valkey 8 have no such command: their slots move
with the classic protocol (``migrate.py``). Redis 8.4's ``CLUSTER MIGRATION`` is another
command, not used.

Rights: the source logs in to the target as its ``primaryuser`` (swarmredis's
``replication`` user), and the target runs what the source sends as that user: ``CLUSTER
SYNCSLOTS``, then the slots' keys as commands (``SELECT``, ``SET``, ``HSET``, ..., and
every write made meanwhile). Valkey 9.1.2 fails the job otherwise (``NOPERM User
replication has no permissions to run the 'cluster|syncslots' command``, then
``'select'``). So, for the moves only, ``replication`` gets ``~* &* +@all`` on every
serving primary (``ACL SETUSER``, in memory: no ACL file or secret changes, so no rolling
update), and its planned rules back after the last move, also when one fails. A
rebalance on such a cluster puts them back first too: a run killed mid-move left them
wide until then (a node restarted meanwhile has read its ACL file again).

A job a killed run started goes on without it: the next rebalance waits for the jobs
still running on the serving primaries before it plans (``wait_running``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import anyio

from swarmredis.engine.modes.cluster.migrate import MoveError
from swarmredis.engine.redis.nodes import wait_until
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import RedisNode, Reply
from swarmredis.pki import acl
from swarmredis.plan.slots import SlotMove

JOB_LIMIT_S = 300.0  # one move's job, however many keys its slots hold
ENDED = ("success", "failed", "cancelled")
WIDE = "~* &* +@all"  # what the target runs as the source's primaryuser: any key's writes


async def supports_atomic(nodes: Iterable[RedisNode]) -> bool:
    """Whether every one of ``nodes`` has ``CLUSTER MIGRATESLOTS`` (Valkey 9+)."""
    for node in nodes:
        found = await node.execute("COMMAND", "INFO", "cluster|migrateslots")
        if not isinstance(found, list) or not found or found[0] is None:
            return False
    return True


def _jobs(reply: Reply) -> list[dict[str, str]]:
    """``CLUSTER GETSLOTMIGRATIONS``: one flat field/value list per job."""
    if not isinstance(reply, list):
        raise ValueError("not a list of jobs")
    jobs = []
    for entry in reply:
        if not isinstance(entry, list) or len(entry) % 2:
            raise ValueError("a job that is not field/value pairs")
        jobs.append({str(k): str(v) for k, v in zip(entry[::2], entry[1::2], strict=True)})
    return jobs


async def jobs_of(node: RedisNode) -> list[dict[str, str]]:
    """The migration jobs ``node`` knows (running, then the latest ended ones)."""
    return await node.read(_jobs, "CLUSTER", "GETSLOTMIGRATIONS")


async def widen(nodes: Iterable[RedisNode]) -> None:
    """The rights a target needs to run a job's stream, for ``replication``."""
    for node in nodes:
        await node.execute("ACL", "SETUSER", acl.REPLICATION, *WIDE.split())


async def narrow(nodes: Iterable[RedisNode]) -> None:
    """``replication``'s planned rules back (its password is left as it is); bounded and
    shielded: it runs after a failed move too."""
    rules = acl.CLUSTER_REPLICATION_USER.rules().split()
    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        for node in nodes:
            try:
                await node.execute("ACL", "SETUSER", acl.REPLICATION, *rules)
            except RedisError:
                continue  # down: it reads its ACL file again when it starts


async def wait_running(nodes: Mapping[str, RedisNode]) -> None:
    """Wait until no job a killed run started is still running on these nodes."""

    async def running() -> list[str]:
        out = []
        for name, node in nodes.items():
            out += [
                f"{name}: job {j.get('name', '?')[:8]} {j.get('state')}"
                for j in await jobs_of(node)
                if j.get("state") not in ENDED
            ]
        return out

    await wait_until(running, within=JOB_LIMIT_S, what="slot migration jobs still running")


def ranges_text(move: SlotMove) -> str:
    """The job's ``slot_ranges`` as Valkey writes them: ``0-9 20-29``."""
    return " ".join(f"{a}-{b}" for a, b in move.ranges)


async def count_keys(node: RedisNode, slots: Sequence[int]) -> int:
    """The keys the source holds in these slots (one round trip per 1000 slots)."""
    total = 0
    for start in range(0, len(slots), 1000):
        chunk = slots[start : start + 1000]
        for reply in await node.pipeline(*(("CLUSTER", "COUNTKEYSINSLOT", str(s)) for s in chunk)):
            if isinstance(reply, RedisError):
                raise reply
            total += int(reply) if isinstance(reply, int) else 0
    return total


async def move_atomically(source: RedisNode, target_id: str, move: SlotMove) -> int:
    """One job for ``move``, from its start to its end; the keys it took over."""
    keys = await count_keys(source, list(move.slots))
    before = {j.get("name") for j in await jobs_of(source)}
    args = [a for start, end in move.ranges for a in (str(start), str(end))]
    await source.execute("CLUSTER", "MIGRATESLOTS", "SLOTSRANGE", *args, "NODE", target_id)
    want = ranges_text(move)
    ended: dict[str, str] = {}

    async def pending() -> list[str]:
        new = [
            j
            for j in await jobs_of(source)
            if j.get("name") not in before
            and j.get("operation") == "EXPORT"
            and j.get("target_node") == target_id
            and j.get("slot_ranges") == want
        ]
        if not new:
            return ["the job is not listed yet"]
        if new[0].get("state") in ENDED:
            ended.update(new[0])
            return []
        return [f"job {new[0].get('name', '?')[:8]}: {new[0].get('state')}"]

    await wait_until(pending, within=JOB_LIMIT_S, what=f"slots {want} to {move.target}")
    if ended.get("state") != "success":
        raise MoveError(
            f"slots {want}: the migration job to {move.target} ended {ended.get('state')}:"
            f" {ended.get('message') or 'no message'}",
            hint="the source still serves them; run the same command again",
            node=source.name,
        )
    return keys
