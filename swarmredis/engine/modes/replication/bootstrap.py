"""Replication bootstrap: replicas are configured by their files, so this verifies them and
the Sentinels, and repairs two things.

The repairs: a node that came back as a second primary (a planned primary restarted after
a failover: its file has no ``replicaof``) is pointed at the primary every Sentinel names,
as Sentinel itself would some seconds later (``plan.stray_primaries``); and a data node
whose ``replica-priority`` is not the planned one (a handover killed part-way leaves the
other replicas at 0, which Sentinel never promotes) gets it back. Then it waits
until exactly one data node is primary with every other one its linked replica, and every
Sentinel sees that primary, the other Sentinels and a quorum, and could promote every
replica (a deploy that ends healthy leaves a stack that can fail over at once). Every wait
is bounded; the Sentinels refresh their view every second meanwhile (``refresh.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anyio

from swarmredis.engine.modes.base import Action, BootstrapReport, Member
from swarmredis.engine.modes.replication.plan import (
    DEFAULT_PRIORITY,
    promotion_pending,
    replication_pending,
    sentinel_view_pending,
    stray_primaries,
)
from swarmredis.engine.modes.replication.refresh import quick_views
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.nodes import bounded, connect_all, fan_out, wait_until
from swarmredis.engine.redis.probe import read_facts
from swarmredis.engine.redis.replies import parse_pairs
from swarmredis.errors import SwarmRedisError
from swarmredis.gateway.redis import RedisAccess, RedisNode


async def read_data(
    members: Sequence[Member], nodes: Mapping[str, RedisNode], limiter: anyio.CapacityLimiter
) -> list[NodeFacts]:
    """The facts of every data node, read concurrently."""

    async def one(member: Member) -> NodeFacts:
        return await read_facts(nodes[member.name], member.name)

    return await fan_out(members, one, limiter=limiter)


async def _demote_strays(
    data: Sequence[Member],
    nodes: Mapping[str, RedisNode],
    sentinels: Sequence[Member],
    sentinel_nodes: Mapping[str, RedisNode],
    master_name: str,
    limiter: anyio.CapacityLimiter,
) -> list[Action]:
    """REPLICAOF the Sentinels' primary on every other node that answers as a primary."""
    views = await read_data(data, nodes, limiter)

    async def master(sentinel: Member) -> Mapping[str, str]:
        try:
            node = sentinel_nodes[sentinel.name]
            return (await read_facts(node, sentinel.name, master_name=master_name)).sentinel
        except SwarmRedisError:  # e.g. not monitoring yet: no consensus, touch nothing
            return {}

    masters = await fan_out(sentinels, master, limiter=limiter)
    named, strays = stray_primaries(views, masters)
    if named is None:
        return []
    address = (masters[0]["ip"], masters[0]["port"])
    reason = f"a second primary; every sentinel names {named.name}"
    actions = [Action(v.name, ("REPLICAOF", *address), reason) for v in strays]
    for action in actions:
        await nodes[action.node].execute(*action.args)
    return actions


async def restore_priorities(
    data: Sequence[Member],
    nodes: Mapping[str, RedisNode],
    priority: str,
    limiter: anyio.CapacityLimiter,
) -> list[Action]:
    """CONFIG SET replica-priority on every data node where it is not ``priority``."""

    async def current(member: Member) -> str:
        reply = await nodes[member.name].execute("CONFIG", "GET", "replica-priority")
        return parse_pairs(reply).get("replica-priority", "")

    found = await fan_out(data, current, limiter=limiter)
    actions = [
        Action(
            m.name,
            ("CONFIG", "SET", "replica-priority", priority),
            f"was {was}, as an interrupted handover leaves it",
        )
        for m, was in zip(data, found, strict=True)
        if was != priority
    ]
    for action in actions:
        await nodes[action.node].execute(*action.args)
    return actions


async def _wait_linked(
    data: Sequence[Member],
    nodes: Mapping[str, RedisNode],
    limiter: anyio.CapacityLimiter,
    wait_timeout: float,
) -> tuple[NodeFacts, dict[str, str]]:
    """Wait for one primary with every other data node its linked replica; return it and
    the replicas' run ids by name."""
    current: list[NodeFacts] = []

    async def linked() -> list[str]:
        current[:] = await read_data(data, nodes, limiter)
        return replication_pending(current)[1]

    await wait_until(linked, within=wait_timeout, what="replicas linked")
    serving, _ = replication_pending(current)
    assert serving is not None  # no pending: exactly one primary
    return serving, {v.name: v.run_id for v in current if v is not serving}


async def _wait_sentinels(
    sentinels: Sequence[Member],
    nodes: Mapping[str, RedisNode],
    master_name: str,
    primary: NodeFacts,
    replicas: Mapping[str, str],
    priority: str,
    limiter: anyio.CapacityLimiter,
    wait_timeout: float,
) -> None:
    """Wait until every Sentinel sees the primary, the other Sentinels and a quorum, and
    could promote every replica (``replicas``: run ids by name) if the primary failed."""

    async def one(sentinel: Member) -> list[str]:
        facts = await read_facts(nodes[sentinel.name], sentinel.name, master_name=master_name)
        pending = sentinel_view_pending(facts, master_name, primary, len(sentinels))
        return pending + promotion_pending(facts, replicas, priority_counts=priority != "0")

    async def watched() -> list[str]:
        return [p for ps in await fan_out(sentinels, one, limiter=limiter) for p in ps]

    await wait_until(watched, within=wait_timeout, what="sentinels agree")


async def bootstrap_replication(
    primary: Member,
    replicas: Sequence[Member],
    sentinels: Sequence[Member],
    access: RedisAccess,
    *,
    master_name: str,
    priority: str = DEFAULT_PRIORITY,
    wait_timeout: float = 60.0,
    ready_timeout: float = 60.0,
    limiter: anyio.CapacityLimiter | None = None,
) -> BootstrapReport:
    """Verify a primary+replicas+Sentinel deployment (configured by its files).

    A failover (another node is primary now) is reported in the notes, not undone here
    (``restore_roles`` does that).
    """
    limiter = bounded(limiter)
    data = [primary, *replicas]
    async with (
        connect_all(data, access, limiter=limiter, ready_timeout=ready_timeout) as nodes,
        connect_all(
            sentinels, access, limiter=limiter, ready_timeout=ready_timeout
        ) as sentinel_nodes,
    ):
        repaired = await _demote_strays(
            data, nodes, sentinels, sentinel_nodes, master_name, limiter
        )
        repaired += await restore_priorities(data, nodes, priority, limiter)
        async with quick_views(list(sentinel_nodes.values())):
            serving, linked = await _wait_linked(data, nodes, limiter, wait_timeout)
            await _wait_sentinels(
                sentinels,
                sentinel_nodes,
                master_name,
                serving,
                linked,
                priority,
                limiter,
                wait_timeout,
            )
    report = BootstrapReport("replication", actions=repaired)
    if serving.name != primary.name:
        report.notes.append(f"failover: {serving.name} is primary (planned {primary.name})")
    report.notes.append(
        f"{serving.name} primary with {len(replicas)} linked replicas,"
        f" {len(sentinels)} sentinels see it with a quorum"
    )
    return report
