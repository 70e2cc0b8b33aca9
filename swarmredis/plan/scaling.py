"""Changes of a live stack's shape that are refused until they can be done safely (pure).

A live stack keeps its nodes' identities (``plan/seating.py``): a changed shard or replica
count adds seats under new names or retires seats, it never re-plans a running node.
Adding is done: new nodes join, a new shard's replicas follow its primary and the slots
move until every shard holds an even share (``engine/modes/cluster/reshard.py``); a
replication stack's new replicas follow its primary. Retiring (fewer shards or replicas)
is refused until nodes are drained and forgotten safely (issue 11): ``plan`` and
``deploy`` name the nodes it would remove and the counts that run now, and change nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from swarmredis import labels
from swarmredis.errors import TopologyChangeRefused
from swarmredis.plan.observe import ObservedObject
from swarmredis.plan.seating import Seating
from swarmredis.stackfile.identity import Seat
from swarmredis.stackfile.model import Stack


def _held(seat: Seat) -> str:
    return f"shard {seat.shard}'s {seat.role}" if seat.shard is not None else seat.role


def topology_change_refusal(
    stack: Stack, seating: Seating, observed: Sequence[ObservedObject]
) -> TopologyChangeRefused | None:
    """Why this plan must not run on what the Swarm holds (None: it may)."""
    scaling = seating.scaling
    if scaling is None or not scaling.retire:
        return None
    changes = [f"{s.name} ({_held(s)}) would be removed" for s in scaling.retire]
    shown = "; ".join(changes[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
    running = [o for o in observed if o.kind == "service" and o.labels.get(labels.ROLE) == "redis"]
    return TopologyChangeRefused(
        f"stack {stack.name}: fewer shards or replicas on a live stack is not supported"
        f" yet: {shown}",
        hint=f"nothing was changed; {_running_counts(stack, running)} run now:"
        " set them back in the stack file",
    )


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
