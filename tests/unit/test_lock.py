"""The stack lock's record (pure parts of engine/swarm/lock.py)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from testkit import eventually_sync

from swarmredis.engine.swarm.lock import (
    LockHolder,
    lock_body,
    lock_name,
    pid_namespace,
    process_running,
)


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


def _holder(pidns: str, pid: int, expires: float) -> LockHolder:
    since = "2026-12-02T06:00:00+00:00"
    return LockHolder("ops@h1", "t", "h1", pid, "deploy", since, expires, pidns)


def test_a_lock_of_a_process_gone_from_our_pid_namespace_is_stale_at_once() -> None:
    def running(pid: int) -> bool:
        return pid == 1

    gone = _holder("boot/ns", 4242, expires=2000.0)
    assert gone.stale_reason(1000.0, "boot/ns", running) == (
        "pid 4242 no longer runs on this host (h1)"
    )
    assert _holder("boot/ns", 1, 2000.0).stale_reason(1000.0, "boot/ns", running) is None
    # another machine's or container's pid says nothing here: wait for its expiry
    assert _holder("boot/other", 4242, 2000.0).stale_reason(1000.0, "boot/ns", running) is None
    assert _holder("", 4242, 2000.0).stale_reason(1000.0, "", running) is None  # unknown
    assert _holder("boot/ns", 0, 2000.0).stale_reason(1000.0, "boot/ns", running) is None
    expired = _holder("boot/other", 4242, 900.0).stale_reason(1000.0, "boot/ns", running)
    assert expired == "expired 1970-01-01T00:15:00+00:00"


def test_the_pid_namespace_is_this_boot_and_namespace() -> None:
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert pid_namespace() == f"{boot}/{os.stat('/proc/self/ns/pid').st_ino}"
    assert LockHolder.mine("deploy", now=1000.0).pidns == pid_namespace()


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
