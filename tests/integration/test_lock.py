"""One operation at a time per stack, on the real lab: the lock held in the Swarm itself."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from swarmredis.engine.swarm.lock import LockHolder, lock_body, lock_name
from swarmredis.gateway.docker import DockerGateway

from .conftest import ROOT, SwarmLab
from .helpers import cli, stack_copy

STACK = "itlock"


def _foreign(expires_in: float) -> LockHolder:
    now = time.time()
    return LockHolder(
        owner="ops@elsewhere",
        token="not-ours",
        host="elsewhere",
        pid=4242,
        operation="deploy",
        since="2026-12-02T06:00:00+00:00",
        expires=now + expires_in,
    )


@pytest.fixture
async def clean(swarm_lab: SwarmLab, gateway: DockerGateway) -> AsyncIterator[None]:
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)
    await gateway.remove("config", lock_name(STACK))
    yield
    await gateway.remove("config", lock_name(STACK))
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


def _run_twice(args: list[str]) -> tuple[list[int], list[tuple[str, str]]]:
    """Start the command twice at once; both exit codes and outputs."""
    runs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=400) for run in runs]
    return [run.returncode for run in runs], outputs


def _services(lab: SwarmLab) -> list[str]:
    label = f"label=com.docker.stack.namespace={STACK}"
    return lab.docker(1, "service", "ls", "-q", "--filter", label).split()


def _lock_exists(lab: SwarmLab) -> bool:
    return lock_name(STACK) in lab.docker(1, "config", "ls", "--format", "{{.Name}}").split()


@pytest.mark.anyio
async def test_a_held_lock_stops_deploy_naming_its_holder_and_nothing_changes(
    swarm_lab: SwarmLab, gateway: DockerGateway, clean: None, tmp_path: Path
) -> None:
    await gateway.create("config", lock_body(STACK, _foreign(600)))
    stack_file = stack_copy(tmp_path, "standalone", STACK, 7596)
    started = time.monotonic()
    result = cli(
        "deploy",
        str(stack_file),
        "--certs-dir",
        str(tmp_path / "certs"),
        "--lock-timeout",
        "1",
        docker_host=swarm_lab.docker_host,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "another operation holds stack itlock since 2026-12-02T06:00:00" in result.stderr
    assert "ops@elsewhere" in result.stderr and "pid 4242" in result.stderr
    assert time.monotonic() - started < 60  # waited about --lock-timeout, not the lock's life
    assert _services(swarm_lab) == []
    assert not (tmp_path / "certs" / STACK).exists()  # no CA made either
    assert _lock_exists(swarm_lab)  # someone else's lock is left alone


@pytest.mark.anyio
async def test_a_stale_lock_is_broken_with_a_message(
    swarm_lab: SwarmLab, gateway: DockerGateway, clean: None, tmp_path: Path
) -> None:
    await gateway.create("config", lock_body(STACK, _foreign(-5)))
    stack_file = stack_copy(tmp_path, "standalone", STACK, 7596)
    result = cli(
        "deploy",
        str(stack_file),
        "--certs-dir",
        str(tmp_path / "certs"),
        docker_host=swarm_lab.docker_host,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "breaking a stale lock: deploy by ops@elsewhere (pid 4242)" in result.stdout
    assert not _lock_exists(swarm_lab)  # ours released at the end


@pytest.mark.anyio
async def test_two_deploys_at_once_run_one_after_the_other(
    swarm_lab: SwarmLab, clean: None, tmp_path: Path
) -> None:
    stack_file = stack_copy(tmp_path, "standalone", STACK, 7596)
    args = [sys.executable, "-m", "swarmredis", "deploy", str(stack_file), "--json"]
    args += ["--certs-dir", str(tmp_path / "certs"), "--lock-timeout", "240"]
    args += ["--docker-host", swarm_lab.docker_host]
    codes, outputs = await anyio.to_thread.run_sync(_run_twice, args)
    assert codes == [0, 0], outputs
    events = [[json.loads(line) for line in out.splitlines()] for out, _ in outputs]
    results = [next(e["result"] for e in lines if "result" in e) for lines in events]
    waited = [any(e.get("event", {}).get("step") == "lock" for e in lines) for lines in events]
    # one run made the stack; the other waited for it and then had nothing to do
    assert sorted(r["changes"] > 0 for r in results) == [False, True], results
    assert waited.count(True) == 1, events
    second = results[waited.index(True)]
    assert second["changes"] == 0 and second["writes"] == {"docker": 0, "redis": 0}
    assert not _lock_exists(swarm_lab)
