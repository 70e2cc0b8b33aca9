"""Who may take a shard over before a restart, and who may take it back after (pure).

Both answers are linked replicas of the shard's serving node: a coordinated
``CLUSTER FAILOVER`` to one loses no acknowledged write (``cluster.failover`` runs it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.plan import Views, current_primary
from swarmredis.engine.redis.facts import NodeFacts


def handover_pairs(
    restarting: Sequence[str], views: Mapping[str, NodeFacts]
) -> list[tuple[str, str]]:
    """(primary, replica) for each restarting node that serves slots.

    The replica must be linked, and must not be restarted in the same batch.
    """
    pairs = []
    for name in restarting:
        view = views.get(name)
        if view is None or not view.me.is_primary or not view.me.slots:
            continue
        candidates = [
            other
            for other, v in sorted(views.items())
            if other not in restarting and v.me.primary_id == view.node_id and v.link_up
        ]
        if candidates:
            pairs.append((name, candidates[0]))
    return pairs


def restore_candidates(
    members: Sequence[ClusterMember],
    views: Views,
    shards: set[str] | None = None,
) -> list[ClusterMember]:
    """Planned primaries that are now linked replicas of their own shard's serving node
    (after a failover): a coordinated CLUSTER FAILOVER to them loses nothing. Pure."""
    found = []
    for m in members:
        if m.role != "primary" or (shards is not None and m.shard not in shards):
            continue
        view = views.get(m.name)
        serving = current_primary(m.shard, members, views) if view else None
        if (
            view is not None
            and serving is not None
            and serving != m.name
            and view.me.is_replica
            and view.me.primary_id == views[serving].node_id
            and view.link_up
        ):
            found.append(m)
    return found
