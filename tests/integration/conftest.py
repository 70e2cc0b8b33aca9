"""The real lab Swarm: brought up once per session (or reused when already up)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from pathlib import Path

import pytest

from swarmredis.gateway.docker import DockerGateway

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "scripts" / "lab"


@dataclass(frozen=True)
class SwarmLab:
    """The running lab: how to reach its manager and its hosts."""

    docker_host: str
    size: int

    def addr(self, k: int) -> str:
        return subprocess.check_output([str(LAB), "addr", str(k)], text=True).strip()

    def run(self, *args: str) -> str:
        """Run a `scripts/lab` subcommand (e.g. kill-host 2) and return its output."""
        return subprocess.check_output([str(LAB), *args], text=True, stderr=subprocess.STDOUT)

    def docker(self, k: int, *args: str) -> str:
        """The docker CLI against lab host k."""
        return self.run("docker", str(k), *args)


def service_logs(*services: str, tail: int = 30) -> str:
    """The last lines each lab service logged (through the manager, host 1)."""
    out = []
    for service in services:
        result = subprocess.run(
            [str(LAB), "docker", "1", "service", "logs", "-t", "--tail", str(tail), service],
            capture_output=True,
            text=True,
            timeout=60,
        )
        out.append(f"--- {service}\n{result.stdout}{result.stderr}")
    return "\n".join(out)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """A failing test marked ``logs_on_failure(*services)`` reports what they logged."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    marker = item.get_closest_marker("logs_on_failure")
    if marker is None or report.when != "call" or not report.failed:
        return
    report.sections.append(("lab service logs", service_logs(*marker.args)))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def swarm_lab() -> SwarmLab:
    size = int(os.environ.get("SWARMREDIS_LAB_SIZE", "3"))
    subprocess.run([str(LAB), "up", str(size)], check=True)
    env = subprocess.check_output([str(LAB), "env"], text=True).strip()
    docker_host = env.split("DOCKER_HOST=", 1)[1]
    return SwarmLab(docker_host=docker_host, size=size)


@pytest.fixture
async def gateway(swarm_lab: SwarmLab) -> AsyncIterator[DockerGateway]:
    async with DockerGateway.connect(swarm_lab.docker_host) as gw:
        yield gw
