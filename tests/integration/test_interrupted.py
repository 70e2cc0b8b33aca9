"""`deploy` SIGKILLed at each step, on the lab (issue 10): re-running completes, nothing is
orphaned, the cluster is formed once.

The real CLI runs with ``--json``: each event is a line, flushed as it happens. The test
reads them and SIGKILLs the process when the line of the step appears (no hook in the
product). Kill points: mid-converge (the first task seen started, the others starting),
after apply (services converged, no Redis command sent yet), mid-bootstrap (the nodes
have met; the forming window is open), and mid-handover (a replication stack's rolling
update, once the handover has set the other replica's priority to 0).

Each kill leaves the stack's lock with the dead pid: the re-run, on the same host, sees
that pid gone and breaks the lock at once (no wait for its 90 s expiry), saying so.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from testkit import eventually_sync
from testkit.swarmobjects import assert_nothing_orphaned, stack_objects, stack_volumes

from swarmredis.engine.context import admin_access
from swarmredis.engine.redis.replies import parse_pairs
from swarmredis.engine.swarm.lock import LockHolder, lock_name, pid_namespace
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.gateway.redis import Credentials, RedisAccess, TLSClientFiles
from swarmredis.pki.store import CertStore

from .conftest import SwarmLab
from .helpers import FAST_UPDATE, cli, password, stack_copy, status_json
from .runs import Event, Killed, Rerun, deploy_killed_at, rerun

STACK, RSTACK = "itkill", "itkillr"


def lock_left(lab: SwarmLab, stack: str) -> LockHolder | None:
    """Who the stack's lock config names, if it exists."""
    names = lab.docker(1, "config", "ls", "--format", "{{.Name}}").split()
    if lock_name(stack) not in names:
        return None
    found = json.loads(lab.docker(1, "config", "inspect", lock_name(stack)))[0]
    return LockHolder.of(found)


def assert_lock_of_the_dead(lab: SwarmLab, stack: str, killed: Killed) -> None:
    """The killed run's lock is left, naming it: this host and its (now gone) pid."""
    holder = lock_left(lab, stack)
    assert holder is not None, "a SIGKILLed deploy cannot release its lock"
    assert (holder.pid, holder.host, holder.operation) == (
        killed.pid,
        socket.gethostname(),
        "deploy",
    )
    assert holder.pidns == pid_namespace()  # the re-run's own: it may judge that pid
    assert holder.expires > time.time()  # not expired: only the dead pid makes it stale


def assert_broke_the_lock(run: Rerun, killed: Killed) -> None:
    pid = killed.pid
    gone = f", pid {pid} no longer runs on this host ({socket.gethostname()})"
    broken = [
        e["detail"]
        for e in run.events
        if e["step"] == "lock" and e["detail"].startswith("breaking a stale lock: deploy by ")
    ]
    assert len(broken) == 1, run.events[:3]
    assert f"(pid {pid}) since " in broken[0] and broken[0].endswith(gone), broken
    assert not any(e["step"] == "lock" and e["status"] == "start" for e in run.events)  # no wait


# ---------------------------------------------------------------- what the Swarm holds


def assert_healthy_as_planned(
    stack: str, certs: Path, lab: SwarmLab, run: Rerun | None = None
) -> dict[str, Any]:
    code, report = status_json(stack, certs, lab.docker_host)
    steps = ("rolling", "roles", "health", "bootstrap")
    said = [e for e in run.events if e["step"] in steps] if run else []
    assert (code, report["status"]) == (0, "healthy"), (report["problems"], said)
    roles = [(n["name"], n["role"]) for n in report["nodes"]]
    assert roles == [(n["name"], n["planned_role"]) for n in report["nodes"]]  # as planned
    return report


def _clean_slate(lab: SwarmLab, stack: str) -> None:
    """No stack, lock or volume of this name from an earlier run (rm --volumes empties
    volumes but keeps them; a volume on another host would read as an orphan here)."""
    done = cli("rm", stack, "--volumes", "--yes", "-q", docker_host=lab.docker_host)
    assert done.returncode == 0 or "nothing to remove" in done.stderr, done.stderr
    if lock_left(lab, stack) is not None:
        lab.docker(1, "config", "rm", lock_name(stack))
    for k in range(1, lab.size + 1):
        # the containers of the wipe and live-settings jobs outlive their services
        # (moby/moby#44312: a removed job's tasks are never reaped) and hold the volumes
        jobs = lab.docker(
            k,
            "ps",
            "-aq",
            "--filter",
            f"name={stack}_wipe-volumes.",
            "--filter",
            f"name={stack}_live-config-",
        ).split()
        if jobs:
            lab.docker(k, "rm", *jobs)
        names = stack_volumes(lab, k, stack)
        if names:
            lab.docker(k, "volume", "rm", *names)


@dataclass
class Figures:
    """Seconds each re-run took, by kill point (printed for docs/reliability.md)."""

    rerun_s: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def figures() -> Iterator[Figures]:
    found = Figures()
    yield found
    print(f"\nre-run after each kill (s): {json.dumps(found.rerun_s)}")


# ---------------------------------------------------------------- the cluster stack


@pytest.fixture(scope="module")
def cluster(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("itkill")
    _clean_slate(swarm_lab, STACK)
    yield stack_copy(tmp, "cluster", STACK, 7980, update=FAST_UPDATE)
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


def test_a_cluster_deploy_killed_mid_converge_after_apply_and_mid_bootstrap_completes(
    swarm_lab: SwarmLab, cluster: Path, figures: Figures
) -> None:
    lab, certs = swarm_lab, cluster.parent / "certs"
    services = {f"{STACK}_node-{i}" for i in range(1, 7)}

    # 1. mid-converge: the first task seen started, the others still starting
    converge = deploy_killed_at(
        cluster, certs, lab, lambda e: e["step"] == "converge" and e["status"] == "done"
    )
    assert_lock_of_the_dead(lab, STACK, converge)
    assert stack_objects(lab, "service", STACK, "{{.Name}}") == services  # apply had created them

    # 2. after apply: every task runs, no Redis command sent yet
    applied = deploy_killed_at(
        cluster, certs, lab, lambda e: e["step"] == "bootstrap" and e["status"] == "start"
    )
    figures.rerun_s["cluster: after mid-converge, to converged (next kill)"] = applied.seconds
    assert_lock_of_the_dead(lab, STACK, applied)
    breaks = [e for e in applied.events if e["step"] == "lock"]
    assert [e["detail"].split(", ")[-1] for e in breaks] == [
        f"pid {converge.pid} no longer runs on this host ({socket.gethostname()})"
    ]
    assert not any(e["step"] == "apply" and "create" in e["detail"] for e in applied.events)
    code, alone = status_json(STACK, certs, lab.docker_host)
    ids = {n["name"]: n["node_id"] for n in alone["nodes"]}
    assert code != 0 and len(set(ids.values()) - {None}) == 6, alone["problems"]

    # 3. mid-bootstrap: the nodes met; the forming window is open (failover off)
    met = deploy_killed_at(
        cluster,
        certs,
        lab,
        lambda e: e["step"] == "bootstrap" and e["subject"] == "meet" and e["status"] == "done",
    )
    figures.rerun_s["cluster: after after-apply, to met (next kill)"] = met.seconds
    assert_lock_of_the_dead(lab, STACK, met)
    code, forming = status_json(STACK, certs, lab.docker_host)
    # down while slots are unassigned (cluster_state fail), degraded once they are
    assert code in (1, 2) and forming["cluster"]["known_nodes"] == 6, forming
    left_open = [p for p in forming["problems"] if p["kind"] == "settings"]
    assert len({p["node"] for p in left_open}) == 6, forming["problems"]
    assert all("`swarmredis deploy` sets it back" in p["message"] for p in left_open)
    print(f"\nkilled mid-bootstrap with {forming['cluster']['slots_assigned']} slots assigned")

    # 4. the re-run completes: the cluster the killed run formed, not a second one
    final = rerun(cluster, certs, lab)
    figures.rerun_s["cluster: after mid-bootstrap, to healthy"] = final.seconds
    assert final.code == 0, final.stderr + json.dumps(final.events[-5:])
    assert_broke_the_lock(final, met)
    assert final.result["bootstrap"]["fresh"] is False
    commands = [a["command"] for a in final.result["bootstrap"]["actions"]]
    assert not [c for c in commands if c.startswith(("CLUSTER RESET", "CLUSTER SET-CONFIG"))]
    report = assert_healthy_as_planned(STACK, certs, lab)
    assert {n["name"]: n["node_id"] for n in report["nodes"]} == ids  # formed once
    assert report["cluster"]["slots_assigned"] == 16384
    assert_nothing_orphaned(lab, STACK, services)


# ---------------------------------------------------------------- the replication stack


@pytest.fixture(scope="module")
def replication(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("itkillr")
    _clean_slate(swarm_lab, RSTACK)
    stack_file = stack_copy(tmp, "replication", RSTACK, 8000, update=FAST_UPDATE)
    first = rerun(stack_file, tmp / "certs", swarm_lab)
    assert first.code == 0, first.stderr
    yield stack_file
    cli("rm", RSTACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


def _endpoints(certs: Path, lab: SwarmLab) -> dict[str, RedisEndpoint]:
    _, report = status_json(RSTACK, certs, lab.docker_host)
    out = {}
    for node in report["nodes"]:
        host, port = node["endpoint"].rsplit(":", 1)
        out[node["name"]] = RedisEndpoint(host, int(port))
    return out


def _web(certs: Path) -> RedisAccess:
    store = certs / RSTACK
    files = TLSClientFiles(
        ca=store / "ca.crt", cert=store / "clients" / "web.crt", key=store / "clients" / "web.key"
    )
    return RedisAccess(files, Credentials("web", password(certs, RSTACK, "web")), timeout=5.0)


def _run(fn: Callable[[], Any]) -> Any:
    return anyio.run(fn, backend="asyncio")


def _priorities(certs: Path, endpoints: dict[str, RedisEndpoint]) -> dict[str, str]:
    access = admin_access(CertStore(certs, RSTACK))

    async def read() -> dict[str, str]:
        out = {}
        for name in ("node-1", "node-2", "node-3"):
            async with access.connect(name, endpoints[name]) as node:
                reply = await node.execute("CONFIG", "GET", "replica-priority")
                out[name] = parse_pairs(reply)["replica-priority"]
        return out

    return _run(read)


def test_a_replication_deploy_killed_mid_handover_completes_and_loses_no_key(
    swarm_lab: SwarmLab, replication: Path, figures: Figures
) -> None:
    lab, certs = swarm_lab, replication.parent / "certs"
    endpoints = _endpoints(certs, lab)
    keys = {f"session:{i}": f"v{i}" for i in range(200)}

    async def write() -> None:
        async with _web(certs).connect("node-1", endpoints["node-1"]) as node:
            for key, value in keys.items():
                assert await node.execute("SET", key, value) == "OK"

    _run(write)
    # a rolling update: the data nodes' redis.conf changes (tcp-backlog: read at start
    # only; a live setting would restart nothing), the primary restarts last
    data = yaml.safe_load(replication.read_text())
    data["config"]["tcp-backlog"] = 256
    replication.write_text(yaml.safe_dump(data))
    target: list[str] = []

    def handing_over(e: Event) -> bool:
        if e["step"] == "rolling" and e["status"] == "start" and "primary role" in e["detail"]:
            target.append(e["detail"].split(" to ")[1].split()[0])
            return True
        return False

    other: list[str] = []

    def priority_zero() -> None:
        """Kill inside the handover: once the other replica is at priority 0."""
        other[:] = [n for n in ("node-2", "node-3") if n != target[0]]
        eventually_sync(
            lambda: _priorities(certs, endpoints)[other[0]] == "0",
            within=20,
            what=f"{other[0]} at replica-priority 0",
            every=0.05,
        )

    killed = deploy_killed_at(replication, certs, lab, handing_over, then=priority_zero)
    assert_lock_of_the_dead(lab, RSTACK, killed)
    assert _priorities(certs, endpoints)[other[0]] == "0"  # what the kill left behind

    final = rerun(replication, certs, lab)
    figures.rerun_s["replication: after mid-handover, to healthy"] = final.seconds
    assert final.code == 0, final.stderr + json.dumps(final.events[-5:])
    assert_broke_the_lock(final, killed)
    report = assert_healthy_as_planned(RSTACK, certs, lab, final)
    primary = [n["name"] for n in report["nodes"] if n["role"] == "primary"]
    assert primary == ["node-1"]  # the planned primary has its role back
    endpoints = _endpoints(certs, lab)
    assert _priorities(certs, endpoints) == dict.fromkeys(("node-1", "node-2", "node-3"), "100")

    async def read() -> dict[str, str]:
        async with _web(certs).connect("node-1", endpoints["node-1"]) as node:
            return {key: await node.execute("GET", key) for key in keys}

    assert _run(read) == keys
    services = {f"{RSTACK}_node-{i}" for i in range(1, 4)}
    services |= {f"{RSTACK}_sentinel-{i}" for i in range(1, 4)}
    assert_nothing_orphaned(lab, RSTACK, services)
