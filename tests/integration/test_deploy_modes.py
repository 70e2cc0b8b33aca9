"""Replication (primary + replicas + Sentinel) and standalone stacks on the lab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import redis.exceptions
import yaml
from redis.asyncio.cluster import RedisCluster

from .conftest import SwarmLab
from .helpers import cli, password, stack_copy, status_json


@pytest.fixture(scope="module")
def modes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("modes")


def _deploy(lab: SwarmLab, tmp: Path, stack_file: Path, name: str) -> Iterator[Path]:
    cli("rm", name, "--volumes", "--yes", "-q", docker_host=lab.docker_host)
    result = cli("deploy", str(stack_file), "--certs-dir", str(tmp / "certs"),
                 docker_host=lab.docker_host)
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        yield stack_file
    finally:
        cli("rm", name, "--volumes", "--yes", "-q", docker_host=lab.docker_host)


@pytest.fixture(scope="module")
def replication(swarm_lab: SwarmLab, modes_dir: Path) -> Iterator[Path]:
    yield from _deploy(swarm_lab, modes_dir, stack_copy(modes_dir, "replication", "itr", 7400),
                       "itr")


@pytest.fixture(scope="module")
def standalone(swarm_lab: SwarmLab, modes_dir: Path) -> Iterator[Path]:
    yield from _deploy(swarm_lab, modes_dir, stack_copy(modes_dir, "standalone", "its", 7450),
                       "its")


def test_replication_is_healthy_and_spread(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    code, report = status_json("itr", modes_dir / "certs", swarm_lab.docker_host)
    assert code == 0, report["problems"]
    nodes = {n["name"]: n for n in report["nodes"]}
    assert nodes["node-1"]["role"] == "primary"
    for replica in ("node-2", "node-3"):
        assert nodes[replica]["role"] == "replica"
        assert nodes[replica]["link_up"] is True
        assert nodes[replica]["host"] != nodes["node-1"]["host"]
    sentinels = [n for n in report["nodes"] if n["planned_role"] == "sentinel"]
    assert len(sentinels) == 3
    assert len({s["host"] for s in sentinels}) == 3


@pytest.mark.anyio
async def test_replication_user_writes_through_the_primary(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    _, report = status_json("itr", modes_dir / "certs", swarm_lab.docker_host)
    host, port = next(n for n in report["nodes"] if n["name"] == "node-1")["endpoint"].split(":")
    certs = modes_dir / "certs" / "itr"
    client = aioredis.Redis(
        host=host, port=int(port), ssl=True, ssl_check_hostname=False, socket_timeout=5,
        ssl_ca_certs=str(certs / "ca.crt"), ssl_certfile=str(certs / "clients" / "web.crt"),
        ssl_keyfile=str(certs / "clients" / "web.key"),
        username="web", password=password(modes_dir / "certs", "itr", "web"),
    )
    try:
        await client.set("session:1", "alice")
        assert await client.get("session:1") == b"alice"
        with pytest.raises(redis.exceptions.NoPermissionError):
            await client.set("admin:1", "x")
    finally:
        await client.aclose()


def test_replication_redeploy_is_a_noop(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    again = cli("deploy", str(replication), "--certs-dir", str(modes_dir / "certs"),
                docker_host=swarm_lab.docker_host)
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout


def test_standalone_is_healthy(swarm_lab: SwarmLab, modes_dir: Path, standalone: Path) -> None:
    code, report = status_json("its", modes_dir / "certs", swarm_lab.docker_host)
    assert code == 0, report["problems"]
    assert [n["role"] for n in report["nodes"]] == ["primary"]
    assert report["mode"] == "standalone"


@pytest.fixture(scope="module")
def announced_by_host(swarm_lab: SwarmLab, modes_dir: Path) -> Iterator[Path]:
    stack_file = stack_copy(modes_dir, "cluster", "ita", 7470)
    data = yaml.safe_load(stack_file.read_text())
    data["announce"] = "host"
    stack_file.write_text(yaml.safe_dump(data))
    yield from _deploy(swarm_lab, modes_dir, stack_file, "ita")


@pytest.mark.anyio
async def test_announce_host_serves_clients_outside_the_swarm(
    swarm_lab: SwarmLab, modes_dir: Path, announced_by_host: Path
) -> None:
    code, report = status_json("ita", modes_dir / "certs", swarm_lab.docker_host)
    assert code == 0, report["problems"]
    certs = modes_dir / "certs" / "ita"
    host, port = report["nodes"][0]["endpoint"].split(":")
    # No address remapping and full hostname checks: the nodes announce host addresses
    # and published ports, and their certificates carry those addresses.
    client = RedisCluster(
        host=host, port=int(port), ssl=True, ssl_check_hostname=True,
        ssl_ca_certs=str(certs / "ca.crt"), ssl_certfile=str(certs / "clients" / "app.crt"),
        ssl_keyfile=str(certs / "clients" / "app.key"),
        username="app", password=password(modes_dir / "certs", "ita", "app"),
    )
    try:
        for i in range(30):
            await client.set(f"app:{i}", str(i))
        assert await client.get("app:29") == b"29"
        announced = {(n.host, n.port) for n in client.get_nodes()}
        published = {(h, int(p)) for h, p in (n["endpoint"].split(":") for n in report["nodes"])}
        primaries = {(h, int(p)) for h, p in (n["endpoint"].split(":") for n in report["nodes"]
                                              if n["role"] == "primary")}
        assert primaries <= announced <= published  # what the cluster told the client
    finally:
        await client.aclose()
