"""Pure parts of the engine, on real API replies captured from the lab (tests/unit/data)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from swarmredis.engine.flows.status import health_targets, stack_mode
from swarmredis.engine.swarm.converge import TRANSIENT_LIMIT, Target, failure_of, running_task
from swarmredis.gateway.docker import demux_log_stream
from swarmredis.plan.jobs import VolumeSet, job_outcomes, job_settled, volumes_of, wipe_job
from swarmredis.plan.observe import swarm_node
from swarmredis.plan.tasks import Task, current, summary, tasks_of

DATA = json.loads((Path(__file__).parent / "data" / "acme_swarm.json").read_text())


def _service(name: str) -> dict[str, Any]:
    return next(s for s in DATA["services"] if s["Spec"]["Name"] == name)


def _raw_tasks(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in DATA["tasks"] if t["ServiceID"] == service["ID"]]


def _tasks(service: dict[str, Any]) -> list[Task]:
    return tasks_of(_raw_tasks(service))


def _running(tasks: list[Task]) -> Task:
    return next(t for t in tasks if t.desired_state == "running")


def _target(service: dict[str, Any]) -> Target:
    task = _running(_tasks(service))
    return Target("node-1", service["ID"], service["Spec"]["Name"], task.node_id, "lab-h1")


def test_running_task_accepts_the_current_task_on_the_planned_node() -> None:
    service = _service("acme_node-1")
    assert running_task(_tasks(service), _target(service), service) == _running(_tasks(service))


def test_running_task_rejects_a_task_on_another_node() -> None:
    service = _service("acme_node-1")
    target = _target(service)
    moved = Target(target.logical, target.service_id, target.service_name, "elsewhere", "h9")
    assert running_task(_tasks(service), moved, service) is None


def test_running_task_rejects_a_task_made_from_an_older_template() -> None:
    service = copy.deepcopy(_service("acme_node-1"))
    service["Spec"]["TaskTemplate"]["ForceUpdate"] = 1  # what `service update --force` does
    assert running_task(_tasks(service), _target(service), service) is None


def test_running_task_ignores_a_placement_only_change() -> None:
    service = copy.deepcopy(_service("acme_node-1"))
    service["Spec"]["TaskTemplate"]["Placement"]["Constraints"].append("node.role==manager")
    assert running_task(_tasks(service), _target(service), service) == _running(_tasks(service))


def test_running_task_waits_while_a_task_is_still_starting() -> None:
    service = _service("acme_node-1")
    raw = copy.deepcopy(_raw_tasks(service))
    for task in raw:
        task["Status"]["State"] = "starting"
    assert running_task(tasks_of(raw), _target(service), service) is None


def test_a_started_task_converges_when_the_caller_waits_for_the_node_itself() -> None:
    service = _service("acme_node-1")
    raw = copy.deepcopy(_raw_tasks(service))
    for task in raw:
        task["Status"]["State"] = "starting"  # the container runs, its health check pending
    started = tasks_of(raw)
    assert running_task(started, _target(service), service, started=True) == _running(started)
    for task in raw:
        task["Status"]["State"] = "preparing"  # no container yet
    assert running_task(tasks_of(raw), _target(service), service, started=True) is None


def test_failure_of_reports_only_new_failed_or_rejected_tasks() -> None:
    service = _service("acme_node-2")
    raw = copy.deepcopy(_raw_tasks(service))
    raw[0]["Status"]["State"] = "rejected"
    raw[0]["Status"]["Err"] = "No such image: redis:9.9"
    tasks = tasks_of(raw)
    assert failure_of(tasks, frozenset()) is tasks[0]
    assert failure_of(tasks, frozenset({tasks[0].id})) is None


def _task(ident: str, desired: str, updated: str, **status: str) -> Task:
    raw = {"ID": ident, "DesiredState": desired, "UpdatedAt": updated, "Status": status}
    return Task.from_api(raw)


def test_current_task_is_the_newest_meant_to_run_and_the_summary_the_newest_words() -> None:
    failed = _task("a", "shutdown", "3", State="failed", Err="boom")
    pending = _task("b", "running", "2", State="pending", Message="no suitable node")
    current_task = current([failed, pending])
    assert current_task is not None and current_task.id == "b"
    assert summary([failed, pending]) == "failed: boom"
    assert summary([pending]) == "pending: no suitable node"
    only = current([failed])
    assert only is not None and only.id == "a"
    assert current([]) is None and summary([]) == ""


def test_a_transient_engine_error_is_left_to_swarms_restart_a_few_times() -> None:
    service = _service("acme_node-2")
    busy = (
        "starting container failed: unable to remount dir as readonly: mount tmpfs:"
        "/var/lib/docker/containers/x/mounts/secrets: device or resource busy"
    )
    template = copy.deepcopy(_raw_tasks(service)[0])
    tasks: list[Task] = []
    for attempt in range(TRANSIENT_LIMIT):
        task = copy.deepcopy(template)
        task["ID"] = f"attempt-{attempt}"
        task["Status"].update(State="failed", Err=busy)
        tasks.append(Task.from_api(task))
        if attempt < TRANSIENT_LIMIT - 1:
            assert failure_of(tasks, frozenset()) is None  # Swarm starts it again
    assert failure_of(tasks, frozenset()) is tasks[0]  # keeps failing: report it
    other = copy.deepcopy(template)
    other["Status"].update(State="failed", Err="task: non-zero exit (1)")
    failed_other = Task.from_api(other)
    assert failure_of([tasks[0], failed_other], frozenset()) is failed_other  # others: at once


def test_overlay_ip_is_the_address_on_the_stack_network() -> None:
    service = _service("acme_node-3")
    raw = next(t for t in _raw_tasks(service) if t["DesiredState"] == "running")
    network_id = raw["NetworksAttachments"][0]["Network"]["ID"]
    task = Task.from_api(raw)
    ip = task.overlay_ip(network_id)
    assert ip is not None and ip.count(".") == 3 and "/" not in ip
    assert task.overlay_ip("another-network") is None


def test_health_targets_come_from_labels_ports_and_tasks() -> None:
    nodes = {n.id: n for n in (swarm_node(raw) for raw in DATA["nodes"])}
    tasks = tasks_of(DATA["tasks"])
    targets = {t.name: t for t in health_targets("acme", DATA["services"], tasks, nodes)}
    assert stack_mode(DATA["services"]).name == "cluster"
    assert sorted(targets) == [f"node-{i}" for i in range(1, 7)]
    assert targets["node-1"].role == "primary"
    assert targets["node-4"].role == "replica" and targets["node-4"].primary == "node-1"
    assert targets["node-1"].endpoint.port == 7000
    assert targets["node-6"].endpoint.port == 7005
    assert targets["node-2"].server_name == "acme-node-2"
    assert all(t.task_state == "running" and t.host for t in targets.values())
    assert targets["node-1"].endpoint.host == next(
        n.addr for n in nodes.values() if n.hostname == targets["node-1"].host
    )


def test_a_task_swarm_replaces_is_named_with_the_schedulers_words() -> None:
    """After a host was down for the manager, Swarm made a replacement task (pending) while
    the old container still runs: status says the node is about to restart."""
    nodes = {n.id: n for n in (swarm_node(raw) for raw in DATA["nodes"])}
    service = DATA["services"][0]
    old = dict(next(t for t in DATA["tasks"] if t["ServiceID"] == service["ID"]))
    old["DesiredState"] = "shutdown"
    new = {
        **old,
        "ID": "replacement",
        "DesiredState": "running",
        "UpdatedAt": "9999-01-01T00:00:00Z",
        "Status": {"State": "pending", "Err": "no suitable node (host-mode port already in use)"},
    }
    (target,) = health_targets("acme", [service], tasks_of([old, new]), nodes)
    assert target.task_state == "pending"
    assert target.task_words == (
        "no suitable node (host-mode port already in use); "
        "Swarm is replacing the running task: it restarts"
    )


@pytest.mark.parametrize(
    ("roles", "mode"),
    [
        ({"standalone": None}, "standalone"),
        ({"primary": None, "replica": None, "sentinel": None}, "replication"),
        ({"primary": "1", "replica": "1"}, "cluster"),
    ],
)
def test_stack_mode_from_planned_roles(roles: dict[str, str | None], mode: str) -> None:
    services = [
        {
            "Spec": {
                "Labels": {
                    "io.swarmredis.planned-role": role,
                    **({"io.swarmredis.shard": shard} if shard else {}),
                }
            }
        }
        for role, shard in roles.items()
    ]
    assert stack_mode(services).name == mode


def test_volumes_of_lists_every_named_volume_with_image_and_stack_constraints() -> None:
    found = volumes_of(DATA["services"])
    assert found is not None
    assert found.names == tuple(f"acme_data-{i}" for i in range(1, 7))
    assert found.image == "redis:7.0"
    assert found.constraints == ("node.labels.redis==true",)  # as Swarm stores it; no node.id
    assert volumes_of([]) is None


def test_wipe_job_runs_once_per_eligible_host_with_every_volume() -> None:
    body = wipe_job(
        "acme",
        VolumeSet(("acme_data-1", "acme_data-2"), "redis:7.0", ("node.labels.redis == true",)),
    )
    assert body["Mode"] == {"GlobalJob": {}}
    mounts = body["TaskTemplate"]["ContainerSpec"]["Mounts"]
    assert [m["Target"] for m in mounts] == ["/v/acme_data-1", "/v/acme_data-2"]
    assert body["TaskTemplate"]["Placement"]["Constraints"] == ["node.labels.redis == true"]
    assert body["TaskTemplate"]["RestartPolicy"] == {"Condition": "none"}


def test_demux_log_stream_reads_frames_and_passes_plain_text() -> None:
    frames = b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n" + b"\x02\x00\x00\x00\x00\x00\x00\x04err\n"
    assert demux_log_stream(frames) == "hello\nerr\n"
    assert demux_log_stream(b"plain text\n") == "plain text\n"


def _job_task(node: str, state: str, updated: str, err: str = "") -> Task:
    raw = {"NodeID": node, "UpdatedAt": updated, "Status": {"State": state, "Err": err}}
    return Task.from_api(raw)


def test_wipe_outcomes_are_one_per_host_however_often_swarm_retried() -> None:
    tasks = [_job_task("n1", "complete", "1")]
    tasks += [_job_task("n2", "rejected", str(i), "No such image: x") for i in range(50)]
    assert not job_settled([*tasks, _job_task("n3", "pending", "1")])
    assert job_settled(tasks)
    assert job_outcomes(tasks, {"n1": "h1", "n2": "h2"}) == [
        ("h1", "complete", "complete"),
        ("h2", "rejected", "No such image: x"),
    ]
