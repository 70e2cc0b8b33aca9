"""Changes of a live stack's shape that are refused until they can be done safely (pure).

Node names follow the shard and replica counts (``stackfile/topology.py``), so a changed
count re-plans existing nodes: with ``shards: 3 -> 4``, node-4 (shard 1's replica) would be
planned as shard 4's primary, every replica re-pointed, and slot ranges planned that no
node serves. Until scaling moves slots and keeps identities (issue 11), ``plan`` and
``deploy`` refuse any change that gives a running node another role or shard, or drops
it, and say which counts run now. Adding nodes that are missing is not refused: that is
also how a deploy killed while it created services resumes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from swarmredis import labels
from swarmredis.errors import TopologyChangeRefused
from swarmredis.plan.observe import ObservedObject
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.topology import topology


def _seat(role: str | None, shard: str | None) -> str:
    if role is None:
        return "unlabelled"
    return f"shard {shard}'s {role}" if shard else role


def topology_change_refusal(
    stack: Stack, observed: Sequence[ObservedObject]
) -> TopologyChangeRefused | None:
    """Why this plan must not run on what the Swarm holds (None: it may)."""
    planned = {n.name: n for n in topology(stack) if n.kind == "redis"}
    running = {
        o.logical: o
        for o in observed
        if o.kind == "service" and o.logical and o.labels.get(labels.ROLE) == "redis"
    }
    moved = []
    for name, service in sorted(running.items(), key=lambda item: _index(item[0])):
        have = (service.labels.get(labels.PLANNED_ROLE), service.labels.get(labels.SHARD))
        want = planned.get(name)
        if want is None:
            moved.append(f"{name} ({_seat(*have)}) would be removed")
            continue
        shard = None if want.shard is None else str(want.shard)
        if have != (want.role, shard):
            moved.append(f"{name} is {_seat(*have)} and would become {_seat(want.role, shard)}")
    if not moved:
        return None
    shown = "; ".join(moved[:4]) + (f"; and {len(moved) - 4} more" if len(moved) > 4 else "")
    return TopologyChangeRefused(
        f"stack {stack.name}: changing the shard or replica count of a live stack is not"
        f" supported yet: {shown}",
        hint=f"nothing was changed; {_running_counts(stack, list(running.values()))} run now:"
        " set them back in the stack file",
    )


def _index(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _running_counts(stack: Stack, found: Sequence[ObservedObject]) -> str:
    """``shards: S, replicas: R`` (cluster) or ``replicas: R`` as the labels say."""
    roles = [s.labels.get(labels.PLANNED_ROLE) for s in found]
    replicas = roles.count("replica")
    if stack.mode != "cluster":
        return f"replicas: {replicas}"
    shards = roles.count("primary")
    per_shard = Counter(
        s.labels.get(labels.SHARD) for s in found if s.labels.get(labels.PLANNED_ROLE) == "replica"
    )
    counts = sorted(set(per_shard.values())) or [0]
    shown = str(counts[0]) if len(counts) == 1 else "/".join(map(str, counts))
    return f"shards: {shards}, replicas: {shown}"
