"""Retiring replicas of a replication stack (a lower ``replicas``), Sentinel kept right.

1. a retiring node that is primary now (a failover, kept with ``--keep-roles``) hands the
   role to a kept replica first (``handover.before_restart``);
2. the services go (``remove``); the primary drops their replication links;
3. each Sentinel in turn is told ``SENTINEL RESET <master>``: it forgets every replica
   and Sentinel it knew and finds them again (the replicas from the primary's INFO, the
   Sentinels from their hello messages), so it no longer lists the removed ones as down.
   One at a time, each waited for until it sees the primary, every other Sentinel, a
   quorum and exactly the kept replicas, able to promote them: the others keep a quorum
   meanwhile (Sentinel's documented procedure for removing a replica or Sentinel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swarmredis.engine.context import RunContext
from swarmredis.engine.events import Event
from swarmredis.engine.modes.base import Action, Member, Removal
from swarmredis.engine.modes.replication.bootstrap import read_data
from swarmredis.engine.modes.replication.handover import before_restart
from swarmredis.engine.modes.replication.plan import (
    ReplicationSet,
    linked_replicas,
    promotion_pending,
    sentinel_view_pending,
)
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.nodes import connect_all, wait_until
from swarmredis.engine.redis.probe import read_facts
from swarmredis.gateway.redis import RedisNode

SETTLE_S = 60.0  # per wait: the links to drop, one Sentinel to find everything again


async def retire_replicas(
    run: RunContext, rs: ReplicationSet, retiring: Sequence[str], remove: Removal
) -> list[Action]:
    """The retiring replicas out of the stack and out of every Sentinel's view."""
    if not retiring:
        await remove()
        return []
    actions = [
        Action(given, ("SENTINEL", "FAILOVER", rs.master_name), f"{gone} retires")
        for gone, given in await before_restart(run, rs, retiring)
    ]
    await remove()
    kept = [m for m in rs.data if m.name not in retiring]
    limiter = run.limiter
    async with (
        connect_all(kept, run.access, limiter=limiter) as nodes,
        connect_all(rs.sentinels, run.access, limiter=limiter) as sentinels,
    ):
        primary, linked = await _wait_unlinked(kept, nodes, run)
        for sentinel in rs.sentinels:
            args = ("SENTINEL", "RESET", rs.master_name)
            await sentinels[sentinel.name].execute(*args)
            await _wait_found(sentinel.name, sentinels[sentinel.name], rs, primary, linked)
            actions.append(Action(sentinel.name, args, f"forget {', '.join(retiring)}"))
            run.report(Event("retire", sentinel.name, "done", "sees the kept replicas only"))
    return actions


async def _wait_unlinked(
    kept: Sequence[Member], nodes: Mapping[str, RedisNode], run: RunContext
) -> tuple[NodeFacts, dict[str, str]]:
    """Wait until the primary lists exactly the kept replicas, each linked; the primary
    and the kept replicas' run ids by name."""
    found: list[NodeFacts] = []

    async def pending() -> list[str]:
        found[:] = await read_data(kept, nodes, run.limiter)
        primary, linked = linked_replicas(found)
        if primary is None:
            return ["no single primary among the kept nodes"]
        links = int(primary.info.get("connected_slaves", "-1"))
        want = len(found) - 1
        out = [f"{primary.name} has {links} replica links, not {want}"] * (links != want)
        unlinked = [v.name for v in found if v is not primary and v.name not in linked]
        return out + [f"{name} is not linked yet" for name in unlinked]

    await wait_until(pending, within=SETTLE_S, what="retired replicas unlinked")
    primary, _ = linked_replicas(found)
    assert primary is not None  # nothing pending: one primary
    return primary, {v.name: v.run_id for v in found if v is not primary}


async def _wait_found(
    name: str,
    sentinel: RedisNode,
    rs: ReplicationSet,
    primary: NodeFacts,
    replicas: Mapping[str, str],
) -> None:
    """Wait until a reset Sentinel sees the primary, the other Sentinels, a quorum and
    exactly ``replicas`` (run ids by name), each one it could promote."""

    async def pending() -> list[str]:
        facts = await read_facts(sentinel, name, master_name=rs.master_name)
        out = sentinel_view_pending(facts, rs.master_name, primary, len(rs.sentinels))
        out += promotion_pending(facts, replicas, priority_counts=rs.priority != "0")
        seen = {r.get("runid") for r in facts.sentinel_replicas}
        if seen != set(replicas.values()):
            out.append(f"{name} lists {len(seen)} replicas, not the {len(replicas)} kept")
        return out

    await wait_until(pending, within=SETTLE_S, what=f"{name} after SENTINEL RESET")
