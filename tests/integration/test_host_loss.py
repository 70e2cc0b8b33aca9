"""Losing a host: the cluster keeps serving, deploy re-places what must move, nothing is lost.

Kills lab host 3's engine (dockerd, containerd, shims and containers: a crashed host),
re-deploys, and checks every key is still there and the cluster is whole again on the
two remaining hosts; then revives the host and lets the lab recover.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import redis.exceptions

from .conftest import LAB, SwarmLab
from .helpers import cli, cluster_client, stack_copy, status_json

STACK = "ith"
LOST = 3


@pytest.fixture
def deployed(swarm_lab: SwarmLab, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    stack_file = stack_copy(
        tmp_path,
        "cluster",
        STACK,
        7650,
        placement={"constraints": ["node.labels.redis == true"], "spread": "node.id"},
    )
    certs = tmp_path / "certs"
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)
    first = cli(
        "deploy", str(stack_file), "--certs-dir", str(certs), docker_host=swarm_lab.docker_host
    )
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    try:
        yield stack_file, certs
    finally:
        swarm_lab.run("revive-host", str(LOST))
        subprocess.run([str(LAB), "up", str(swarm_lab.size)], check=True)
        _wait_nodes_ready(swarm_lab)
        cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


def _wait_nodes_ready(lab: SwarmLab, want: int | None = None, timeout: float = 120) -> None:
    want = lab.size if want is None else want
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = lab.docker(1, "node", "ls", "--format", "{{.Status}}").split()
        if states.count("Ready") == want:
            return
        time.sleep(1)
    raise AssertionError(f"expected {want} Ready nodes, have {states}")


async def _unreadable(lab: SwarmLab, certs: Path, keys: dict[str, str]) -> list[str]:
    """Keys that cannot be read back right now through a cluster-aware client."""
    try:
        client = await cluster_client(STACK, certs, lab.docker_host, "swarmredis-admin")
    except redis.exceptions.RedisError:
        return list(keys)
    try:
        values = await client.mget_nonatomic(list(keys))
    except redis.exceptions.RedisError:
        return list(keys)
    finally:
        await client.aclose()
    return [k for k, v in zip(keys, values, strict=True) if v != keys[k].encode()]


@pytest.mark.anyio
async def test_losing_a_host_then_redeploying_keeps_every_key(
    swarm_lab: SwarmLab, deployed: tuple[Path, Path]
) -> None:
    stack_file, certs = deployed
    keys = {f"h:{i}": str(i) for i in range(300)}
    client = await cluster_client(STACK, certs, swarm_lab.docker_host, "swarmredis-admin")
    try:
        for key, value in keys.items():
            await client.set(key, value)
    finally:
        await client.aclose()

    swarm_lab.run("kill-host", str(LOST))
    _wait_nodes_ready(swarm_lab, swarm_lab.size - 1)

    again = cli(
        "deploy",
        str(stack_file),
        "--certs-dir",
        str(certs),
        "--timeout",
        "240",
        docker_host=swarm_lab.docker_host,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    code, report = status_json(STACK, certs, swarm_lab.docker_host)
    # the lost primary's replica took over; deploy handed the shard back to the moved,
    # resynced planned primary: healthy, every node in its planned role
    assert code == 0, report["problems"]
    assert all(n["role"] == n["planned_role"] for n in report["nodes"]), report["nodes"]
    assert report["cluster"]["state"] == "ok"
    assert report["cluster"]["known_nodes"] == 6  # old ids of the replaced nodes forgotten
    hosts = {n["host"] for n in report["nodes"]}
    assert f"lab-h{LOST}" not in hosts
    assert all(n["reachable"] for n in report["nodes"]), report["problems"]
    missing: list[str] = list(keys)
    for _ in range(30):
        missing = await _unreadable(swarm_lab, certs, keys)
        if not missing:
            break
        await anyio.sleep(2)
    assert not missing, f"{len(missing)} keys lost"
