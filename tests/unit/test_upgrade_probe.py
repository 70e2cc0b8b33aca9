"""The image probe's shell text, run by a real `sh` against real and stand-in binaries,
and how its answers read."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from swarmredis.plan.tasks import tasks_of
from swarmredis.plan.upgrade import (
    NO_CLI,
    NO_SERVER,
    major_of,
    probe_answer,
    probe_job,
    probe_outcomes,
)

SH = shutil.which("sh")
REDIS_SERVER = shutil.which("redis-server")


def probe(path: Path) -> int:
    """The probe's exit code with only ``path`` on PATH (as in a minimal image)."""
    script = probe_job("acme", "redis:7", [])["TaskTemplate"]["ContainerSpec"]["Command"][2]
    assert SH is not None
    done = subprocess.run(
        [SH, "-c", script], env={"PATH": str(path)}, capture_output=True, timeout=30
    )
    return done.returncode


def stand_in(folder: Path, name: str, text: str) -> None:
    tool = folder / name
    tool.write_text(f"#!{SH}\n{text}\n")
    tool.chmod(0o755)


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
def test_the_probe_reports_the_major_version_of_the_real_redis_server(tmp_path: Path) -> None:
    assert REDIS_SERVER is not None
    os.symlink(REDIS_SERVER, tmp_path / "redis-server")
    stand_in(tmp_path, "redis-cli", "exit 0")
    version = subprocess.run(
        [REDIS_SERVER, "--version"], capture_output=True, text=True, timeout=30
    ).stdout
    expected = major_of(version.split("v=", 1)[1])
    assert expected is not None
    code = probe(tmp_path)
    assert probe_answer("failed", f"task: non-zero exit ({code})", "redis:7", "h1") == expected


def test_the_probe_names_what_the_image_lacks(tmp_path: Path) -> None:
    stand_in(tmp_path, "redis-cli", "exit 0")
    stand_in(tmp_path, "redis-server", 'echo "Redis server v=6.2.14 sha=00000000:0"')
    assert probe(tmp_path) == 16  # 6 + 10
    stand_in(tmp_path, "redis-server", 'echo "Valkey server v=8.1.0 sha=0"')
    assert probe(tmp_path) == 18
    (tmp_path / "redis-server").unlink()
    assert probe(tmp_path) == NO_SERVER
    (tmp_path / "redis-cli").unlink()
    assert probe(tmp_path) == NO_CLI
    words = f"task: non-zero exit ({NO_SERVER})"
    assert "has no working redis-server" in str(probe_answer("failed", words, "x:1", "h1"))
    rejected = probe_answer("rejected", "No such image: x:1", "x:1", "lab-h3")
    assert (
        rejected
        == "lab-h3 cannot run the image x:1 (No such image: x:1): load it there (docker load)"
    )


def raw_task(node: str, state: str, err: str, at: str) -> dict[str, object]:
    return {
        "ID": f"{node}-{at}",
        "ServiceID": "probe",
        "NodeID": node,
        "UpdatedAt": at,
        "Status": {"State": state, "Err": err, "Message": ""},
    }


def test_each_host_answers_with_the_task_that_ran_not_a_newer_pending_one() -> None:
    """The probe always exits non-zero and Swarm starts a job's failed task again."""
    tasks = tasks_of(
        [
            raw_task("n1", "failed", "task: non-zero exit (17)", "2026-01-01T00:00:01Z"),
            raw_task("n1", "pending", "", "2026-01-01T00:00:02Z"),
            raw_task("n3", "rejected", "No such image: x:1", "2026-01-01T00:00:01Z"),
            raw_task("n3", "pending", "", "2026-01-01T00:00:03Z"),
        ]
    )
    outcomes = probe_outcomes(tasks, {"n1": "lab-h1", "n3": "lab-h3"})
    assert outcomes == [
        ("lab-h1", "failed", "task: non-zero exit (17)"),
        ("lab-h3", "rejected", "No such image: x:1"),
    ]
    host, state, words = outcomes[0]
    assert probe_answer(state, words, "x:1", host) == 7
