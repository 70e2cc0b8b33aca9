"""Pure planning of a Redis Cluster bootstrap: members' views in, actions out.

A view is what one member says about the cluster (its ``NodeFacts``: CLUSTER
MYID/NODES/INFO and INFO). From the views alone, ``classify`` tells fresh / healthy / needs-repair /
conflicting, and the planners say only what is missing: MEET nodes that are unknown,
failing or known at an old address; ADDSLOTSRANGE for slots nobody owns; REPLICATE for
members without slots that follow no primary of their shard. Nothing is ever reset. A
failover (a planned replica serving its shard) is a note for the bootstrap; who can take
a shard over or back is ``cluster.roles``. No I/O here: ``cluster.bootstrap`` reads the
views and runs the actions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from swarmredis.constants import CLUSTER_SLOTS
from swarmredis.engine.modes.base import Action
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.replies import ClusterNode, format_ranges, ranges_of, slots_of


class Condition(StrEnum):
    """What the engine found before acting."""

    FRESH = "fresh"
    HEALTHY = "healthy"
    NEEDS_REPAIR = "needs-repair"
    CONFLICTING = "conflicting"


@dataclass(frozen=True)
class ClusterState:
    """Classified views of all members, with the reasons for the classification."""

    condition: Condition
    views: Mapping[str, NodeFacts]
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


Views = Mapping[str, NodeFacts]


def _components(members: Sequence[ClusterMember], views: Views) -> list[set[str]]:
    """Groups of members that know each other (by id), directly or through others."""
    by_id = {views[m.name].node_id: m.name for m in members}
    groups: list[set[str]] = []
    for member in members:
        known = {by_id[n.node_id] for n in views[member.name].cluster_nodes if n.node_id in by_id}
        touching = [g for g in groups if g & known]
        merged = set().union(known, *touching)
        groups = [g for g in groups if g not in touching] + [merged]
    return groups


def _foreign_owners(members: Sequence[ClusterMember], views: Views) -> list[str]:
    """Live nodes outside the plan that serve slots: this is someone else's cluster."""
    ids = {views[m.name].node_id for m in members}
    return sorted(
        {
            f"{name} knows {n.node_id[:8]} at {n.ip}:{n.port} serving {format_ranges(n.slots)}"
            for name, view in views.items()
            for n in view.cluster_nodes
            if n.node_id not in ids and n.slots and not n.unsettled
        }
    )


def _lost_owners(members: Sequence[ClusterMember], views: Views) -> list[str]:
    """Failed nodes outside the plan still owning slots: their data is gone."""
    ids = {views[m.name].node_id for m in members}
    return sorted(
        {
            f"slots {format_ranges(n.slots)} belong to lost node {n.node_id[:8]} (fail);"
            " restore it or reassign the slots by hand"
            for view in views.values()
            for n in view.cluster_nodes
            if n.node_id not in ids and n.slots and n.unsettled
        }
    )


def classify(members: Sequence[ClusterMember], views: Views) -> ClusterState:
    """fresh / healthy / needs-repair / conflicting, from the members' views alone."""
    if all(views[m.name].alone for m in members):
        return ClusterState(Condition.FRESH, views)
    groups = [
        g for g in _components(members, views) if len(g) > 1 or any(views[n].me.slots for n in g)
    ]
    conflicts = _foreign_owners(members, views)
    if len(groups) > 1:
        conflicts.append(
            "members form separate clusters: " + " | ".join(",".join(sorted(g)) for g in groups)
        )
    if conflicts:
        return ClusterState(Condition.CONFLICTING, views, tuple(conflicts))
    problems = [str(a) for a in plan_meets(members, views)]
    actions, lost = plan_slots(members, views)
    replicas, notes = plan_replicas(members, views)
    problems += [str(a) for a in actions + replicas] + lost
    problems += final_pending(members, views) if not problems else []
    condition = Condition.NEEDS_REPAIR if problems else Condition.HEALTHY
    return ClusterState(condition, views, tuple(problems), tuple(notes))


def still_known(members: Sequence[ClusterMember], views: Views) -> list[ClusterMember]:
    """The members without the retiring ones every kept member forgot already (a run
    killed after ``retire`` forgot them, before their services went): they stay out of
    the cluster, not met again."""
    kept = [m for m in members if not m.retiring]

    def known(member: ClusterMember) -> bool:
        node_id = views[member.name].node_id
        return any(views[k.name].entry(node_id) for k in kept)

    return [m for m in members if not m.retiring or known(m) or not kept]


def _seed(members: Sequence[ClusterMember], views: Views) -> ClusterMember:
    """The member best anchored in the cluster: known by most others, then knowing most,
    then serving slots, then first in plan order."""

    def score(m: ClusterMember) -> tuple[int, int, int]:
        myid, view = views[m.name].node_id, views[m.name]
        others = [o for o in members if o is not m]
        known_by = sum(1 for o in others if views[o.name].entry(myid))
        knows = sum(1 for o in others if view.entry(views[o.name].node_id))
        return known_by, knows, int(bool(view.me.slots))

    best = max(score(m) for m in members)
    return next(m for m in members if score(m) == best)


def _address_ok(entry: ClusterNode, target: ClusterMember) -> bool:
    return (entry.ip, entry.port, entry.bus_port) == (
        target.meet_ip,
        target.meet_port,
        target.bus_port,
    )


def _meet(viewer: ClusterMember, target: ClusterMember, reason: str) -> Action:
    args = ("CLUSTER", "MEET", target.meet_ip, str(target.meet_port), str(target.bus_port))
    return Action(viewer.name, args, f"{target.name} {reason}")


def plan_meets(
    members: Sequence[ClusterMember], views: Views, *, direct: bool = False
) -> list[Action]:
    """MEETs that make every member know every other at its current address.

    A member nobody knows is met once, by the seed (gossip does the rest); a member that a
    viewer knows as failing, half-met, or at another address is met again by that viewer.
    With ``direct`` (when gossip alone did not get there, e.g. a node that was FORGOTten
    is banned from gossip for a minute), every viewer that lacks a member meets it itself.
    """
    ids = {m.name: views[m.name].node_id for m in members}
    seed = _seed(members, views)
    actions: list[Action] = []
    for target in members:
        others = [m for m in members if m is not target]
        known_by = [m for m in others if views[m.name].entry(ids[target.name])]
        if not known_by and target is not seed:
            actions.append(_meet(seed, target, "is not part of the cluster"))
            continue
        for viewer in others:
            entry = views[viewer.name].entry(ids[target.name])
            if entry is None:
                if direct and known_by:
                    actions.append(_meet(viewer, target, f"is still unknown to {viewer.name}"))
            elif entry.unsettled:
                actions.append(_meet(viewer, target, f"is marked {','.join(sorted(entry.flags))}"))
            elif not _address_ok(entry, target):
                actions.append(_meet(viewer, target, f"moved from {entry.ip}:{entry.port}"))
    return actions


def current_primary(shard: str, members: Sequence[ClusterMember], views: Views) -> str | None:
    """Name of the shard member that serves slots now (the planned primary, or after a
    failover one of its replicas), or None if no member of the shard owns slots."""
    candidates = [
        m
        for m in members
        if m.shard == shard and views[m.name].me.is_primary and views[m.name].me.slots
    ]
    candidates.sort(key=lambda m: (-views[m.name].me.slot_count, m.role != "primary"))
    return candidates[0].name if candidates else None


def plan_slots(members: Sequence[ClusterMember], views: Views) -> tuple[list[Action], list[str]]:
    """ADDSLOTSRANGE for planned slots nobody owns; problems for slots only lost nodes own."""
    owned = {slot for v in views.values() for n in v.cluster_nodes for slot in slots_of(n.slots)}
    actions: list[Action] = []
    problems = _lost_owners(members, views)
    for primary in (m for m in members if m.role == "primary"):
        missing = slots_of(primary.slots) - owned
        if not missing:
            continue
        target_name = current_primary(primary.shard, members, views) or primary.name
        target = views[target_name].me
        ranges = ranges_of(missing)
        if not target.is_primary:
            problems.append(
                f"slots {format_ranges(ranges)} of shard {primary.shard} are not"
                f" served and {target_name} is not a primary"
            )
            continue
        args = ("CLUSTER", "ADDSLOTSRANGE", *(str(x) for r in ranges for x in r))
        actions.append(Action(target_name, args, f"slots of shard {primary.shard} not served"))
    return actions, problems


def plan_replicas(members: Sequence[ClusterMember], views: Views) -> tuple[list[Action], list[str]]:
    """REPLICATE for members without slots that do not replicate their shard's primary
    (for a new shard that serves no slot yet: its planned primary, see ``_new_head``).

    Returns the actions and notes about failovers (left as they are).
    """
    actions: list[Action] = []
    notes: list[str] = []
    for member in members:
        serving = current_primary(member.shard, members, views) or _new_head(member, views)
        if serving is None:
            continue
        me, primary_id = views[member.name].me, views[serving].node_id
        shard_ids = {views[m.name].node_id for m in members if m.shard == member.shard}
        if serving == member.name:
            if member.role == "replica":
                notes.append(
                    f"failover: {member.name} serves shard {member.shard}"
                    f" (planned primary {member.primary})"
                )
            continue
        if me.is_primary and not me.slots:
            reason = (
                "planned replica has no primary"
                if member.role == "replica"
                else (f"rejoins shard {member.shard} as a replica of {serving} after a failover")
            )
        elif me.is_replica and me.primary_id not in shard_ids:
            reason = f"replicates {(me.primary_id or '-')[:8]}, not shard {member.shard}"
        else:
            continue
        actions.append(
            Action(member.name, ("CLUSTER", "REPLICATE", primary_id), f"{reason}: follow {serving}")
        )
    return actions, notes


def _new_head(member: ClusterMember, views: Views) -> str | None:
    """The planned primary of a shard that serves no slot yet (a new shard, before slots
    move to it), for a planned replica that is an empty primary itself (a node that just
    joined). Nobody else follows an empty primary: a replica that follows anything, or
    serves slots, keeps its data."""
    me, head = views[member.name].me, views.get(member.primary or "")
    if member.role != "replica" or head is None:
        return None
    if me.is_primary and not me.slots and head.me.is_primary and not head.me.slots:
        return member.primary
    return None


def gossip_pending(members: Sequence[ClusterMember], views: Views) -> list[str]:
    """What keeps the members from all knowing each other at their current addresses."""
    pending = []
    for viewer in members:
        for target in members:
            if target is viewer:
                continue
            entry = views[viewer.name].entry(views[target.name].node_id)
            if entry is None or entry.unsettled or not _address_ok(entry, target):
                pending.append(f"{viewer.name} does not see {target.name} yet")
    return pending


def config_signature(nodes: Sequence[ClusterNode], ids: Iterable[str]) -> tuple[Any, ...]:
    """What must be equal in every node's view once gossip settled: for each node id, its
    config epoch, its primary and its slots."""
    by_id = {n.node_id: n for n in nodes}
    entries = [by_id.get(i) for i in sorted(ids)]
    return tuple((e.node_id, e.config_epoch, e.primary_id, e.slots) if e else None for e in entries)


def final_pending(members: Sequence[ClusterMember], views: Views) -> list[str]:
    """What keeps the cluster from being whole: state, coverage, agreement, replica links."""
    pending = []
    ids = [views[m.name].node_id for m in members]
    signatures = {config_signature(views[m.name].cluster_nodes, ids) for m in members}
    if len(signatures) > 1:
        pending.append("nodes do not agree on the cluster configuration yet")
    for member in members:
        view = views[member.name]
        if view.cluster.state != "ok" or view.cluster.slots_ok != CLUSTER_SLOTS:
            pending.append(
                f"{member.name}: cluster_state {view.cluster.state},"
                f" {view.cluster.slots_ok}/{CLUSTER_SLOTS} slots ok"
            )
        if view.me.is_replica and view.info.get("master_link_status") != "up":
            pending.append(f"{member.name}: replica link to its primary is not up")
    return pending


def plan_forget(members: Sequence[ClusterMember], views: Views) -> list[Action]:
    """CLUSTER FORGET, on every member, of ids no member has and all see as ``fail``.

    Such ids are the old identities of nodes that came back empty (a lost host, a
    wiped volume): they hold no slots and will never return. Only run on a whole
    cluster (after ``final_pending`` is empty), when every member answered.
    """
    current = {views[m.name].node_id for m in members}
    ghosts: set[str] | None = None
    for member in members:
        failed = {
            n.node_id
            for n in views[member.name].cluster_nodes
            if "fail" in n.flags and n.node_id not in current and not n.slots
        }
        ghosts = failed if ghosts is None else ghosts & failed
    return [
        Action(m.name, ("CLUSTER", "FORGET", ghost), "old identity of a replaced node")
        for ghost in sorted(ghosts or ())
        for m in members
    ]
