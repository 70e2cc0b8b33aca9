"""The lab itself: `scripts/lab up` on a running lab changes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import LAB, SwarmLab


def _engine_pids(lab: SwarmLab) -> list[str]:
    base = Path("/var/lib/swarmredis-lab")
    return [(base / f"h{k}" / "docker.pid").read_text().strip() for k in range(1, lab.size + 1)]


def test_up_again_changes_nothing(swarm_lab: SwarmLab) -> None:
    nodes = swarm_lab.docker(1, "node", "ls", "-q")
    pids = _engine_pids(swarm_lab)
    image = swarm_lab.docker(2, "image", "inspect", "-f", "{{.Id}}", "redis:7.0")
    again = subprocess.run(
        [str(LAB), "up", str(swarm_lab.size)], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert "starting engine" not in again.stderr and "forming" not in again.stderr
    assert swarm_lab.docker(1, "node", "ls", "-q") == nodes
    assert _engine_pids(swarm_lab) == pids
    assert swarm_lab.docker(2, "image", "inspect", "-f", "{{.Id}}", "redis:7.0") == image


def test_status_reports_every_host_up(swarm_lab: SwarmLab) -> None:
    status = subprocess.run([str(LAB), "status"], capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stdout
    for k in range(1, swarm_lab.size + 1):
        assert f"lab-h{k}" in status.stdout
    assert "DOWN" not in status.stdout


def test_image_runs_as_redis_with_the_tools(swarm_lab: SwarmLab) -> None:
    out = swarm_lab.docker(
        3,
        "run",
        "--rm",
        "redis:7.0",
        "sh",
        "-c",
        "id -u; ls -nd /data; redis-server --version; redis-cli --version",
    )
    lines = out.splitlines()
    assert lines[0] == "999"
    assert " 999 999 " in lines[1]
    assert "v=7.0" in lines[2] and "redis-cli 7.0" in lines[3]
