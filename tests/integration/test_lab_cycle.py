"""A second, independent one-host lab: down on nothing, up from nothing, down leaves nothing.

It has its own directory, bridge, subnet and name prefixes, so the shared lab the other
tests use is never touched. This is the path CI takes on a fresh machine (`up --fresh`
when nothing of a lab exists yet).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import LAB, SwarmLab

BRIDGE = "srlabt0"
NS_PREFIX = "srlabt-h"
VETH_PREFIX = "srlt-h"
# short: containerd's socket paths under the exec-root must stay below 104 characters
LAB_DIR = Path("/var/lib/swarmredis-labtest")


@pytest.fixture
def second_lab(swarm_lab: SwarmLab) -> Iterator[dict[str, str]]:
    env = dict(
        os.environ,
        LAB_DIR=str(LAB_DIR),
        LAB_NET="192.168.78",
        LAB_BRIDGE=BRIDGE,
        LAB_NS_PREFIX=NS_PREFIX,
        LAB_VETH_PREFIX=VETH_PREFIX,
    )
    yield env
    subprocess.run([str(LAB), "down"], env=env, capture_output=True, timeout=120)
    shutil.rmtree(LAB_DIR, ignore_errors=True)


def _lab(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LAB), *args], env=env, capture_output=True, text=True, timeout=300)


def _leftovers(lab_dir: Path) -> list[str]:
    found = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    found += [line.split()[0] for line in netns.splitlines() if line.startswith(NS_PREFIX)]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        name = line.split(": ")[1].split("@")[0]
        if name == BRIDGE or name.startswith(VETH_PREFIX):
            found.append(name)
    with open("/proc/self/mounts") as mounts:
        found += [m.split()[1] for m in mounts if m.split()[1].startswith(str(lab_dir))]
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    found += [r for r in rules.splitlines() if BRIDGE in r]
    if lab_dir.exists():  # the built image tars stay: they rebuild the same
        kept = ("redis-image.", "exporter-image.")
        found += [str(p) for p in lab_dir.iterdir() if not p.name.startswith(kept)]
    return found


def test_down_on_nothing_then_up_fresh_then_down_leaves_nothing(
    second_lab: dict[str, str], swarm_lab: SwarmLab
) -> None:
    lab_dir = Path(second_lab["LAB_DIR"])
    shared_nodes = swarm_lab.docker(1, "node", "ls", "-q")

    down = _lab(second_lab, "down")
    assert down.returncode == 0, down.stderr
    status = _lab(second_lab, "status")
    assert status.returncode == 1 and "lab is down" in status.stdout

    up = _lab(second_lab, "up", "1", "--fresh")
    assert up.returncode == 0, up.stderr
    status = _lab(second_lab, "status")
    assert status.returncode == 0, status.stdout
    assert "192.168.78.11" in status.stdout and "swarm active" in status.stdout
    image = _lab(second_lab, "docker", "1", "image", "inspect", "-f", "{{.Id}}", "redis:7.0")
    assert image.returncode == 0 and image.stdout.startswith("sha256:")

    down = _lab(second_lab, "down")
    assert down.returncode == 0, down.stderr
    assert _leftovers(lab_dir) == []
    # the shared lab did not notice
    assert swarm_lab.docker(1, "node", "ls", "-q") == shared_nodes
    shared = subprocess.run([str(LAB), "status"], capture_output=True, text=True, timeout=60)
    assert shared.returncode == 0, shared.stdout
