"""Pure choices of replication mode: who is primary, who is linked, who may be promoted,
what a Sentinel does not see yet. No I/O here: ``bootstrap.py`` and ``handover.py`` read
the facts (``NodeFacts``) and act."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from swarmredis.engine.modes.base import Member, member_of
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.plan.state import DesiredState

DEFAULT_PRIORITY = "100"  # Redis's replica-priority default


@dataclass(frozen=True)
class ReplicationSet:
    """The data nodes (planned primary first) and Sentinels of one replication stack."""

    data: Sequence[Member]
    sentinels: Sequence[Member]
    master_name: str
    failover_timeout: float = 60.0  # sentinel failover-timeout, seconds
    priority: str = DEFAULT_PRIORITY  # every data node's planned replica-priority

    @property
    def planned_primary(self) -> str:
        return self.data[0].name


def replication_set(desired: DesiredState) -> ReplicationSet:
    """Data nodes (planned primary first, then replicas) and Sentinels of a stack."""
    data = [n for n in desired.nodes if n.kind == "redis"]
    ordered = [*(n for n in data if n.role == "primary"), *(n for n in data if n.role != "primary")]
    return ReplicationSet(
        data=[member_of(desired, n) for n in ordered],
        sentinels=[member_of(desired, n) for n in desired.nodes if n.kind == "sentinel"],
        master_name=desired.stack.name,
        failover_timeout=desired.stack.sentinel.failover_timeout,
        priority=planned_priority(desired.stack.config),
    )


def planned_priority(config: Mapping[str, str]) -> str:
    """The replica-priority a stack's ``config:`` gives its data nodes (Redis's default
    100 without; ``slave-priority`` is its old name)."""
    return config.get("replica-priority", config.get("slave-priority", DEFAULT_PRIORITY))


def _is_linked(view: NodeFacts, primary: NodeFacts) -> bool:
    return (
        view is not primary
        and view.role.kind == "replica"
        and view.link_up
        and view.info.get("master_replid") == primary.info.get("master_replid")
    )


def linked_replicas(views: Sequence[NodeFacts]) -> tuple[NodeFacts | None, list[str]]:
    """The one current primary (None unless exactly one) and its linked replicas."""
    primaries = [v for v in views if v.role.kind == "primary"]
    if len(primaries) != 1:
        return None, []
    return primaries[0], [v.name for v in views if _is_linked(v, primaries[0])]


def replication_pending(views: Sequence[NodeFacts]) -> tuple[NodeFacts | None, list[str]]:
    """The one current primary (or None) and what keeps the replicas from being linked."""
    primary, linked = linked_replicas(views)
    if primary is None:
        names = ", ".join(v.name for v in views if v.role.kind == "primary") or "none"
        return None, [f"expected exactly one primary, found {names}"]
    return primary, [
        f"{v.name}: not yet a linked replica of {primary.name}"
        f" (role {v.role.kind}, link {v.info.get('master_link_status', 'down')})"
        for v in views
        if v is not primary and v.name not in linked
    ]


def stray_primaries(
    views: Sequence[NodeFacts], sentinel_masters: Sequence[Mapping[str, str]]
) -> tuple[NodeFacts | None, list[NodeFacts]]:
    """The primary every Sentinel names and the other primaries.

    Only when all Sentinels name the same address, see it as a plain ``master`` (not
    down), the ones that know its run id (a Sentinel learns it from INFO, every 10 s)
    agree on it, and that node is a primary: otherwise ``(None, [])``, touch nothing.
    """
    addresses = {(m.get("ip"), m.get("port")) for m in sentinel_masters}
    run_ids = {m.get("runid") for m in sentinel_masters} - {None, ""}
    if (
        len(addresses) != 1
        or len(run_ids) != 1
        or any(m.get("flags") != "master" for m in sentinel_masters)
    ):
        return None, []
    named = next((v for v in views if v.run_id in run_ids and v.role.kind == "primary"), None)
    if named is None:
        return None, []
    return named, [v for v in views if v.role.kind == "primary" and v is not named]


def sentinel_view_pending(
    sentinel: NodeFacts, master_name: str, primary: NodeFacts, expected: int
) -> list[str]:
    """What this Sentinel does not see yet: the primary, the other Sentinels, a quorum."""
    fields = sentinel.sentinel
    flags = set(fields.get("flags", "").split(","))
    pending = []
    if fields.get("runid") != primary.run_id:
        pending.append(f"{sentinel.name}: does not see {primary.name} as {master_name} yet")
    if flags & {"s_down", "o_down", "disconnected"}:
        pending.append(f"{sentinel.name}: sees {master_name} as {fields.get('flags')}")
    if int(fields.get("num-other-sentinels", "0")) < expected - 1:
        pending.append(
            f"{sentinel.name}: knows {fields.get('num-other-sentinels')} of"
            f" {expected - 1} other sentinels"
        )
    if sentinel.quorum_error:
        pending.append(f"{sentinel.name}: {sentinel.quorum_error}")
    return pending


# What Sentinel asks of a replica it promotes (sentinel.c, sentinelSelectSlave): not down
# or disconnected, a PING answered within 5 s, its INFO (read every 10 s) within 30 s, a
# priority other than 0. A Sentinel that discovered a replica a moment ago, or has not
# re-read the priority a handover changed, refuses a failover with NOGOODSLAVE.
PROMOTE_PING_MS = 5_000
PROMOTE_INFO_MS = 30_000


def unpromotable(entry: Mapping[str, str] | None, *, priority_counts: bool = True) -> str | None:
    """Why a Sentinel would not promote this replica now (its ``SENTINEL REPLICAS``
    entry), or None. ``priority_counts``: priority 0 counts against it (not where the
    stack plans 0 for every data node)."""
    if entry is None:
        return "it does not know it yet"
    flags = set(entry.get("flags", "").split(","))
    if flags & {"s_down", "o_down", "disconnected"}:
        return f"it sees it as {entry.get('flags')}"
    if _millis(entry, "last-ok-ping-reply") > PROMOTE_PING_MS:
        return "no PING answered within 5 s"
    if _millis(entry, "info-refresh") > PROMOTE_INFO_MS:
        return "its INFO not read yet"
    if entry.get("master-link-status") != "ok":
        return f"link {entry.get('master-link-status', 'unknown')}"
    if priority_counts and entry.get("slave-priority") == "0":
        return "it sees priority 0"
    return None


def _millis(entry: Mapping[str, str], key: str) -> int:
    try:
        return int(entry.get(key, ""))
    except ValueError:
        return PROMOTE_INFO_MS * 1000  # missing or garbled: as good as never


def refused_promotions(
    sentinel: NodeFacts, replicas: Mapping[str, str], *, priority_counts: bool = True
) -> dict[str, str]:
    """Why this Sentinel could not promote each of ``replicas`` (name -> run id) now, by
    name; the ones it could promote are left out."""
    seen = {entry.get("runid"): entry for entry in sentinel.sentinel_replicas}
    refused = {}
    for name, run_id in replicas.items():
        why = unpromotable(seen.get(run_id), priority_counts=priority_counts)
        if why is not None:
            refused[name] = why
    return refused


def promotion_pending(
    sentinel: NodeFacts, replicas: Mapping[str, str], *, priority_counts: bool = True
) -> list[str]:
    """``refused_promotions`` as pending conditions of a wait."""
    refused = refused_promotions(sentinel, replicas, priority_counts=priority_counts)
    return [f"{sentinel.name}: cannot promote {name}: {why}" for name, why in refused.items()]


def choose_target(
    views: Sequence[NodeFacts], avoid: Collection[str], prefer: Sequence[str]
) -> str | None:
    """The linked replica to promote: the first of ``prefer`` not in ``avoid``."""
    _, linked = linked_replicas(views)
    return next((name for name in prefer if name in linked and name not in avoid), None)


def sentinel_pending(
    seen: Mapping[str | None, Mapping[str, str]],
    run_ids: Mapping[str, str],
    target: str,
    others: Sequence[str],
) -> list[str]:
    """What keeps a Sentinel (``SENTINEL REPLICAS`` entries by run id) from choosing
    exactly ``target``: it must be able to promote the target and see every other
    replica at priority 0."""
    pending = []
    why = unpromotable(seen.get(run_ids[target]))
    if why is not None:
        pending.append(f"sentinel cannot promote {target}: {why}")
    for name in others:
        priority = seen.get(run_ids[name], {}).get("slave-priority")
        if priority != "0":
            pending.append(f"sentinel sees {name} with priority {priority}")
    return pending


def failover_abandoned(master: Mapping[str, str], target_run_id: str) -> bool:
    """Sentinel's ``SENTINEL MASTER`` entry shows a failover that ended without the target
    (``-failover-abort-*``: e.g. the promoted replica did not report itself primary
    within the failover timeout, or other Sentinels turned it back): still the old
    primary, and no failover in progress."""
    flags = set(master.get("flags", "").split(","))
    return master.get("runid") != target_run_id and "failover_in_progress" not in flags
