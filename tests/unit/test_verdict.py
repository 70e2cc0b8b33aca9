"""The pure health rules, on probes as the nodes would answer them."""

from __future__ import annotations

import dataclasses
import json

from swarmredis.engine.modes.registry import mode_for
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.replies import Role
from swarmredis.engine.redis.verdict import (
    HealthReport,
    HealthTarget,
    Probe,
    ProblemKind,
    Status,
    assess,
    failover_only,
    without_standby,
)
from swarmredis.gateway.endpoint import RedisEndpoint


def target(name: str, role: str, primary: str | None = None) -> HealthTarget:
    return HealthTarget(
        name,
        RedisEndpoint("192.168.77.11", 7000),
        role,  # type: ignore[arg-type]
        primary=primary,
        host="lab-1",
        task_state="running",
    )


def primary(name: str = "node-1", planned: str = "primary") -> Probe:
    info = {
        "role": "master",
        "master_replid": "r1",
        "master_repl_offset": "5000000",
        "run_id": "run-1",
        "used_memory": "1000",
        "maxmemory": "0",
    }
    return Probe(target(name, planned), facts=NodeFacts(name, info, Role("primary")))


def replica(name: str, link: str = "up", offset: int = 5000000) -> Probe:
    info = {
        "role": "slave",
        "master_replid": "r1",
        "master_link_status": link,
        "slave_repl_offset": str(offset),
        "master_host": "10.0.1.1",
        "master_port": "7000",
        "run_id": f"run-{name}",
    }
    return Probe(target(name, "replica", "node-1"), facts=NodeFacts(name, info, Role("replica")))


def sentinel(
    name: str,
    runid: str = "run-1",
    quorum_error: str | None = None,
    promotes: tuple[str, ...] = ("node-2", "node-3"),
    **more: str,
) -> Probe:
    fields = {
        "runid": runid,
        "flags": "master",
        "num-other-sentinels": "2",
        "quorum": "2",
        "ip": "10.0.1.1",
        "port": "7000",
        "num-slaves": "2",
        **more,
    }
    replicas = tuple(
        {
            "runid": f"run-{node}",
            "flags": "slave",
            "master-link-status": "ok",
            "last-ok-ping-reply": "300",
            "info-refresh": "2500",
            "slave-priority": "100",
        }
        for node in promotes
    )
    facts = NodeFacts(
        name,
        {},
        Role("sentinel"),
        sentinel=fields,
        quorum_error=quorum_error,
        sentinel_replicas=replicas,
    )
    return Probe(target(name, "sentinel"), facts=facts)


def unreachable(probe: Probe, stage: str = "tcp") -> Probe:
    return Probe(probe.target, stage=stage, error=f"{probe.target.name}: refused")  # type: ignore[arg-type]


def judged(mode: str, *probes: Probe) -> HealthReport:
    return assess(mode_for(mode), probes)


def replication(*probes: Probe) -> tuple[Status, list[str]]:
    report = judged("replication", *probes)
    json.dumps(report.to_dict())
    return report.status, [f"{p.node}: {p.message}" for p in report.problems]


def test_replication_healthy_then_each_kind_of_trouble() -> None:
    sentinels = [sentinel(f"sentinel-{i}") for i in (1, 2, 3)]
    good = [primary(), replica("node-2"), replica("node-3")]
    assert replication(*good, *sentinels) == (Status.HEALTHY, [])
    assert replication(good[0], replica("node-2", link="down"), good[2], *sentinels) == (
        Status.DEGRADED,
        ["node-2: replica link to its primary is down"],
    )
    status, problems = replication(good[0], replica("node-2", offset=1000), good[2], *sentinels)
    assert status is Status.DEGRADED and "lags 4999000 bytes" in problems[0]
    status, problems = replication(*good, sentinel("sentinel-1", runid="other"), *sentinels[1:])
    assert status is Status.DEGRADED and problems == ["sentinel-1: does not see node-1 as primary"]
    status, _ = replication(*good, sentinel("sentinel-1", quorum_error="NOQUORUM"))
    assert status is Status.DEGRADED
    running = sentinel(
        "sentinel-2", flags="master,failover_in_progress", **{"failover-state": "wait_promotion"}
    )
    assert replication(*good, sentinels[0], running, sentinels[2]) == (
        Status.DEGRADED,
        ["sentinel-2: runs a failover (wait_promotion)"],
    )


def test_a_sentinel_that_could_promote_no_replica_is_degraded() -> None:
    """SENTINEL FAILOVER would answer NOGOODSLAVE, and a real failover would be refused:
    e.g. a Sentinel that has not read its replicas' INFO yet (every 10 s)."""
    good = [primary(), replica("node-2"), replica("node-3")]
    blind = sentinel("sentinel-1", promotes=())
    others = [sentinel("sentinel-2"), sentinel("sentinel-3")]
    assert replication(*good, blind, *others) == (
        Status.DEGRADED,
        [
            "sentinel-1: could promote no replica if the primary failed:"
            " cannot promote node-2: it does not know it yet;"
            " cannot promote node-3: it does not know it yet"
        ],
    )
    one = sentinel("sentinel-1", promotes=("node-3",))  # one replica suffices
    assert replication(*good, one, *others) == (Status.HEALTHY, [])
    # a replica whose link is down is not counted: only linked replicas are asked for
    down = [good[0], replica("node-2", link="down"), good[2]]
    _status, problems = replication(*down, one, *others)
    assert problems == ["node-2: replica link to its primary is down"]


def test_replication_without_a_reachable_primary_is_down() -> None:
    status, problems = replication(unreachable(primary()), replica("node-2"))
    assert status is Status.DOWN and "None: no reachable primary" in problems


def test_failover_in_replication_is_degraded() -> None:
    promoted = primary("node-2", planned="replica")
    status, problems = replication(unreachable(primary()), promoted, replica("node-3"))
    assert status is Status.DEGRADED
    assert (
        "node-2: failover: primary now (planned replica); "
        "`swarmredis deploy STACKFILE` gives the planned roles back" in problems
    )


def test_a_failover_alone_is_a_failover_kind_problem_and_nothing_else() -> None:
    promoted = primary("node-2", planned="replica")
    promotes = ("node-1", "node-3")  # the replicas now
    sentinels = [sentinel(f"sentinel-{i}", runid="run-1", promotes=promotes) for i in (1, 2, 3)]
    demoted = replica("node-1")
    report = judged("replication", demoted, promoted, replica("node-3"), *sentinels)
    assert [p.kind for p in report.problems] == [ProblemKind.FAILOVER]
    assert failover_only(report)
    assert report.to_dict()["problems"][0]["kind"] == "failover"
    lagging = judged("replication", demoted, promoted, replica("node-3", link="down"), *sentinels)
    assert {p.kind for p in lagging.problems} == {ProblemKind.FAILOVER, ProblemKind.LINK}
    assert not failover_only(lagging)


def test_standalone_and_connection_stages() -> None:
    assert judged("standalone", primary()).status is Status.HEALTHY
    report = judged("standalone", unreachable(primary(), stage="tls"))
    line = report.nodes[0]
    assert report.status is Status.DOWN and report.exit_code == 2
    assert (line.reachable, line.tls_ok, line.auth_ok) == (True, False, False)


def test_memory_near_maxmemory_is_degraded() -> None:
    healthy = primary()
    assert healthy.facts is not None
    info = {**healthy.info, "used_memory": "95", "maxmemory": "100"}
    full = dataclasses.replace(healthy, facts=dataclasses.replace(healthy.facts, info=info))
    report = judged("standalone", full)
    assert report.status is Status.DEGRADED
    assert report.problems[0].message == "memory 95% of maxmemory"


def _with_task(probe: Probe, state: str) -> Probe:
    return dataclasses.replace(probe, target=dataclasses.replace(probe.target, task_state=state))


def test_a_starting_task_whose_node_answers_counts_as_running() -> None:
    report = judged("replication", _with_task(primary(), "starting"), replica("node-2"))
    assert not [p for p in report.problems if p.kind is ProblemKind.TASK], report.problems


def test_a_starting_task_whose_node_does_not_answer_is_named() -> None:
    report = judged(
        "replication", primary(), unreachable(_with_task(replica("node-2"), "starting"))
    )
    tasks = [p for p in report.problems if p.kind is ProblemKind.TASK]
    assert [(p.node, p.message) for p in tasks] == [("node-2", "task is starting")]
    assert report.status is not Status.HEALTHY


def test_a_task_in_any_other_state_is_a_problem_even_when_its_node_answers() -> None:
    report = judged("replication", _with_task(primary(), "preparing"), replica("node-2"))
    assert [p.message for p in report.problems if p.kind is ProblemKind.TASK] == [
        "task is preparing"
    ]


def test_a_task_problem_carries_dockers_words() -> None:
    probe = _with_task(replica("node-2"), "pending")
    probe = dataclasses.replace(
        probe, target=dataclasses.replace(probe.target, task_words="no suitable node")
    )
    report = judged("replication", primary(), probe)
    assert [p.message for p in report.problems if p.kind is ProblemKind.TASK] == [
        "task is pending: no suitable node"
    ]


def test_a_primary_restarts_without_standby_only_when_no_replica_is_linked_to_it() -> None:
    sentinels = [sentinel(f"sentinel-{i}") for i in (1, 2, 3)]
    both = judged("replication", primary(), replica("node-2"), replica("node-3"), *sentinels)
    assert without_standby(both, ["node-1", "node-2", "sentinel-1"]) == []
    one_down = judged(
        "replication",
        primary(),
        replica("node-2", link="down"),
        replica("node-3", link="down"),
        *sentinels,
    )
    assert [n.name for n in without_standby(one_down, ["node-1", "node-3"])] == ["node-1"]
    assert without_standby(one_down, ["node-2", "node-3"]) == []  # replicas: no data lost
    alone = judged("replication", primary(), *sentinels)
    assert [n.name for n in without_standby(alone, ["node-1"])] == ["node-1"]
