"""The stack lock's record (pure parts of engine/swarm/lock.py)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from testkit import eventually_sync

from swarmredis.engine.swarm.lock import LockHolder, lock_body, lock_name, process_running


def test_a_holder_survives_its_labels() -> None:
    holder = LockHolder.mine("deploy", now=1_800_000_000.0, ttl=90)
    again = LockHolder.from_labels(holder.labels("acme"))
    assert again == holder
    assert again.expires == 1_800_000_090.0
    assert again.since == "2027-01-15T08:00:00+00:00"


def test_a_lock_is_stale_once_it_expired() -> None:
    holder = LockHolder.mine("rm", now=1000.0, ttl=90)
    assert not holder.stale(1089.0)
    assert holder.stale(1090.0)


def test_labels_that_are_missing_or_garbled_read_as_unknown_and_stale() -> None:
    holder = LockHolder.from_labels(
        {"io.swarmredis.lock.pid": "x", "io.swarmredis.lock.expires": "soon"}
    )
    assert (holder.owner, holder.pid, holder.expires) == ("?", 0, 0.0)
    assert holder.stale(1.0)


def test_the_lock_config_carries_none_of_the_stacks_own_labels() -> None:
    body = lock_body("acme", LockHolder.mine("deploy", now=1000.0))
    assert body["Name"] == lock_name("acme") == "swarmredis-lock-acme"
    assert not any(k.startswith("com.docker.stack") for k in body["Labels"])
    assert "io.swarmredis.managed" not in body["Labels"]
    assert "io.swarmredis.stack" not in body["Labels"]
    data = json.loads(base64.b64decode(body["Data"]))
    assert data["io.swarmredis.lock.operation"] == "deploy"
    assert data["stack"] == "acme"


def _holder(host: str, pid: int, expires: float) -> LockHolder:
    return LockHolder("ops@h", "t", host, pid, "deploy", "2026-12-02T06:00:00+00:00", expires)


def test_a_lock_of_a_process_gone_from_this_host_is_stale_at_once() -> None:
    def running(pid: int) -> bool:
        return pid == 1

    gone = _holder("here", 4242, expires=2000.0)
    assert (
        gone.stale_reason(1000.0, "here", running) == "pid 4242 no longer runs on this host (here)"
    )
    assert _holder("here", 1, 2000.0).stale_reason(1000.0, "here", running) is None
    # another host's pid says nothing about this host: wait for its expiry
    assert _holder("there", 4242, 2000.0).stale_reason(1000.0, "here", running) is None
    assert _holder("here", 0, 2000.0).stale_reason(1000.0, "here", running) is None  # unknown pid
    expired = _holder("there", 4242, 900.0).stale_reason(1000.0, "here", running)
    assert expired == "expired 1970-01-01T00:15:00+00:00"


def test_process_running_sees_live_reaped_and_zombie_processes() -> None:
    assert process_running(os.getpid())
    reaped = subprocess.Popen([sys.executable, "-c", "pass"])
    reaped.wait(timeout=30)
    assert not process_running(reaped.pid)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # exited but not reaped: what a SIGKILLed child is until its parent waits
        eventually_sync(lambda: not process_running(zombie.pid), within=30)
        assert Path(f"/proc/{zombie.pid}/stat").exists()
    finally:
        zombie.wait(timeout=30)
