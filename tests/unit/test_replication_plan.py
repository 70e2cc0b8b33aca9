"""Pure choices of replication mode: who is linked, who may be promoted."""

from __future__ import annotations

from swarmredis.engine.modes.replication.plan import (
    choose_target,
    failover_abandoned,
    linked_replicas,
    planned_priority,
    promotion_pending,
    replication_pending,
    sentinel_pending,
    stray_primaries,
    unpromotable,
)
from swarmredis.engine.modes.replication.refresh import DEFAULTS, QUICK, to_restore
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.replies import Role

PLANNED = ["node-1", "node-2", "node-3"]


def primary(name: str, replid: str = "r1") -> NodeFacts:
    return NodeFacts(name, {"master_replid": replid, "run_id": f"run-{name}"}, Role("primary"))


def replica(name: str, link: str = "up", replid: str = "r1") -> NodeFacts:
    info = {"master_link_status": link, "master_replid": replid, "run_id": f"run-{name}"}
    return NodeFacts(name, info, Role("replica"))


def test_linked_replicas_share_the_primary_replication_id_and_have_the_link_up() -> None:
    views = [
        primary("node-1"),
        replica("node-2"),
        replica("node-3", link="down"),
        replica("node-4", replid="other"),
    ]
    serving, linked = linked_replicas(views)
    assert serving is not None and serving.name == "node-1"
    assert linked == ["node-2"]
    _, pending = replication_pending(views)
    assert [p.split(":")[0] for p in pending] == ["node-3", "node-4"]


def test_no_or_two_primaries_mean_nobody_is_linked() -> None:
    assert linked_replicas([replica("node-2")]) == (None, [])
    assert linked_replicas([primary("node-1"), primary("node-2")]) == (None, [])
    _, pending = replication_pending([primary("node-1"), primary("node-2")])
    assert pending == ["expected exactly one primary, found node-1, node-2"]


def test_target_is_the_first_planned_linked_replica_outside_the_batch() -> None:
    views = [primary("node-1"), replica("node-2"), replica("node-3")]
    assert choose_target(views, avoid=["node-1"], prefer=PLANNED) == "node-2"
    assert choose_target(views, avoid=["node-1", "node-2"], prefer=PLANNED) == "node-3"
    assert choose_target(views, avoid=["node-1", "node-2", "node-3"], prefer=PLANNED) is None
    unlinked = [primary("node-1"), replica("node-2", link="down"), replica("node-3")]
    assert choose_target(unlinked, avoid=["node-1"], prefer=PLANNED) == "node-3"
    after_failover = [replica("node-1"), primary("node-2"), replica("node-3")]
    assert choose_target(after_failover, avoid=[], prefer=PLANNED) == "node-1"


def _master(name: str, flags: str = "master") -> dict[str, str]:
    return {"runid": f"run-{name}", "flags": flags, "ip": f"x-{name}", "port": "6379"}


def test_a_second_primary_is_a_stray_only_when_every_sentinel_names_the_other() -> None:
    views = [replica("node-1"), primary("node-2"), primary("node-3", replid="r9")]
    named, strays = stray_primaries(views, [_master("node-2")] * 3)
    assert named is not None and named.name == "node-2"
    assert [v.name for v in strays] == ["node-3"]
    # sentinels disagree, one sees it down, or names a node that is no primary: hands off
    assert stray_primaries(views, [_master("node-2"), _master("node-3")]) == (None, [])
    assert stray_primaries(views, [_master("node-2", "master,s_down")]) == (None, [])
    assert stray_primaries(views, [_master("node-1")] * 3) == (None, [])
    assert stray_primaries(views, [{}]) == (None, [])
    # a Sentinel that has not read the primary's INFO yet knows its address, not its id
    fresh = {**_master("node-2"), "runid": ""}
    named, strays = stray_primaries(views, [_master("node-2"), fresh, _master("node-2")])
    assert named is not None and named.name == "node-2" and [v.name for v in strays] == ["node-3"]
    elsewhere = {**fresh, "ip": "x-node-3"}
    assert stray_primaries(views, [_master("node-2"), elsewhere]) == (None, [])
    single = [primary("node-1"), replica("node-2"), replica("node-3")]
    named, strays = stray_primaries(single, [_master("node-1")] * 3)
    assert named is not None and strays == []


def test_sentinel_must_see_the_target_linked_and_every_other_replica_at_priority_0() -> None:
    run_ids = {"node-2": "r2", "node-3": "r3"}
    ready = {"r2": promotable(), "r3": promotable(**{"slave-priority": "0"})}
    assert sentinel_pending(ready, run_ids, "node-2", ["node-3"]) == []
    stale = {**ready, "r3": {**ready["r3"], "slave-priority": "100"}}
    assert sentinel_pending(stale, run_ids, "node-2", ["node-3"]) == [
        "sentinel sees node-3 with priority 100"
    ]
    syncing = {**ready, "r2": {**ready["r2"], "master-link-status": "err"}}
    assert sentinel_pending(syncing, run_ids, "node-2", ["node-3"]) == [
        "sentinel cannot promote node-2: link err"
    ]
    unknown = {"r3": ready["r3"]}  # restarted: a new run id the Sentinel has not seen
    assert sentinel_pending(unknown, run_ids, "node-2", ["node-3"]) == [
        "sentinel cannot promote node-2: it does not know it yet"
    ]


def promotable(**more: str) -> dict[str, str]:
    """A SENTINEL REPLICAS entry as Sentinel shows a replica it may promote."""
    entry = {
        "flags": "slave",
        "master-link-status": "ok",
        "slave-priority": "100",
        "last-ok-ping-reply": "120",
        "info-refresh": "4200",
    }
    return {**entry, **more}


def test_a_sentinel_promotes_only_a_replica_it_sees_up_pinged_and_read_lately() -> None:
    """Sentinel's own rules (sentinelSelectSlave): what makes SENTINEL FAILOVER answer
    NOGOODSLAVE, each named."""
    assert unpromotable(promotable()) is None
    cases = {
        "it does not know it yet": None,
        "it sees it as slave,s_down": promotable(flags="slave,s_down"),
        "it sees it as slave,disconnected": promotable(flags="slave,disconnected"),
        "no PING answered within 5 s": promotable(**{"last-ok-ping-reply": "5001"}),
        "its INFO not read yet": promotable(**{"info-refresh": "1764680000000"}),
        "link err": promotable(**{"master-link-status": "err"}),
        "it sees priority 0": promotable(**{"slave-priority": "0"}),
    }
    for why, entry in cases.items():
        assert unpromotable(entry) == why, entry
    garbled = promotable(**{"info-refresh": "soon"})
    assert unpromotable(garbled) == "its INFO not read yet"
    zero = promotable(**{"slave-priority": "0"})
    assert unpromotable(zero, priority_counts=False) is None  # the stack plans 0 for all


def test_promotion_pending_names_the_sentinel_and_each_replica_it_could_not_promote() -> None:
    seen = (
        {**promotable(), "runid": "run-node-2"},
        {**promotable(**{"info-refresh": "40000"}), "runid": "run-node-3"},
    )
    facts = NodeFacts("sentinel-1", {}, Role("sentinel"), sentinel_replicas=seen)
    replicas = {"node-2": "run-node-2", "node-3": "run-node-3", "node-4": "run-node-4"}
    assert promotion_pending(facts, replicas) == [
        "sentinel-1: cannot promote node-3: its INFO not read yet",
        "sentinel-1: cannot promote node-4: it does not know it yet",
    ]


def test_a_failover_is_abandoned_only_when_none_runs_and_the_target_is_not_named() -> None:
    running = {"runid": "r1", "flags": "master,failover_in_progress"}
    assert not failover_abandoned(running, "r3")  # still promoting: wait
    assert failover_abandoned({"runid": "r1", "flags": "master"}, "r3")  # -failover-abort-*
    assert not failover_abandoned({"runid": "r3", "flags": "master"}, "r3")  # done
    assert not failover_abandoned({"runid": "r3", "flags": "master,failover_in_progress"}, "r3")


def test_the_planned_priority_is_the_stacks_or_redis_default() -> None:
    assert planned_priority({}) == "100"
    assert planned_priority({"replica-priority": "10"}) == "10"
    assert planned_priority({"slave-priority": "7"}) == "7"  # its old name


def test_periods_restored_after_a_wait_are_those_found_or_the_defaults() -> None:
    found = {"INFO-PERIOD": "7000", "MIN-LINK-RECONNECT-PERIOD": "15000", "PING-PERIOD": "1000"}
    assert to_restore(found) == {"info-period": "7000", "min-link-reconnect-period": "15000"}
    assert to_restore({k.upper(): v for k, v in QUICK.items()}) == DEFAULTS  # a killed run
    assert to_restore({}) == DEFAULTS
