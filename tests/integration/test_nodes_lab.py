"""`swarmredis nodes` against the real lab Swarm."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from swarmredis.errors import NotAManager
from swarmredis.gateway.docker import DockerGateway

from .conftest import SwarmLab


def swarmredis(*args: str, docker_host: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "swarmredis", *args, "--docker-host", docker_host],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_nodes_json_lists_every_lab_host(swarm_lab: SwarmLab) -> None:
    result = swarmredis("nodes", "--json", docker_host=swarm_lab.docker_host)
    assert result.returncode == 0, result.stderr
    nodes = json.loads(result.stdout)
    assert len(nodes) == swarm_lab.size
    hostnames = [n["hostname"] for n in nodes]
    assert hostnames == [f"lab-h{k}" for k in range(1, swarm_lab.size + 1)]
    for k, node in enumerate(nodes, start=1):
        assert node["labels"]["zone"] == f"z{k}"
        assert node["labels"]["redis"] == "true"
        assert node["state"] == "ready"
        assert node["addr"] == swarm_lab.addr(k)
        assert node["engine_version"]
    assert nodes[0]["role"] == "manager"


def test_nodes_table_names_hosts(swarm_lab: SwarmLab) -> None:
    result = swarmredis("nodes", docker_host=swarm_lab.docker_host)
    assert result.returncode == 0, result.stderr
    for k in range(1, swarm_lab.size + 1):
        assert f"lab-h{k}" in result.stdout


def test_worker_engine_is_refused_with_exit_4(swarm_lab: SwarmLab) -> None:
    worker = swarm_lab.docker_host.replace("/h1/", "/h2/")
    result = swarmredis("nodes", docker_host=worker)
    assert result.returncode == 4  # NotAManager
    assert "not a manager" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.anyio
async def test_gateway_require_manager_on_worker(swarm_lab: SwarmLab) -> None:
    worker = swarm_lab.docker_host.replace("/h1/", "/h2/")
    async with DockerGateway.connect(worker) as gw:
        with pytest.raises(NotAManager):
            await gw.require_manager()
