"""`network: {mode: host}` on the lab: a 3x1 cluster and a replication stack on the
hosts' own network stack.

One cluster (stack `ithost`, ports 7700-7705, bus 17700-17705) is deployed for the
first tests; they run in file order, the last of them removes it with its volumes.
Then a replication stack (`ithostr`, 7720-7725) is deployed and removed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis.exceptions
import yaml
from redis.asyncio.cluster import RedisCluster

from .conftest import SwarmLab
from .helpers import FAST_UPDATE, DeployedStack, cli, password, stack_copy, status_json

STACK = "ithost"
BASE_PORT = 7700
NODES = 6
NAMESPACE = f"label=com.docker.stack.namespace={STACK}"


Deployed = DeployedStack


def host_stack(tmp: Path) -> Path:
    """stacks/cluster.yaml on the host network: no overlay fields, no port."""
    path = stack_copy(tmp, "cluster", STACK, BASE_PORT, update=FAST_UPDATE)
    data = yaml.safe_load(path.read_text())
    data["network"] = {"mode": "host"}
    for key in ("port", "announce"):
        data.pop(key, None)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def cluster(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tmp = tmp_path_factory.mktemp(STACK)
    certs = tmp / "certs"
    stack_file = host_stack(tmp)
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)
    first = cli(
        "deploy", str(stack_file), "--certs-dir", str(certs), docker_host=swarm_lab.docker_host
    )
    try:
        yield Deployed(STACK, swarm_lab, stack_file, certs, first)
    finally:
        cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


def _endpoints(report: dict[str, Any]) -> dict[str, tuple[str, int]]:
    out = {}
    for node in report["nodes"]:
        host, port = node["endpoint"].rsplit(":", 1)
        out[node["name"]] = (host, int(port))
    return out


def test_deploy_is_healthy_on_host_ports(cluster: Deployed) -> None:
    assert cluster.first.returncode == 0, cluster.first.stdout[-3000:] + cluster.first.stderr
    code, report = cluster.status()
    assert code == 0, report["problems"]
    assert report["status"] == "healthy"
    assert report["cluster"]["state"] == "ok"
    lab_hosts = {cluster.lab.addr(k) for k in range(1, cluster.lab.size + 1)}
    found = _endpoints(report)
    assert {name: port for name, (_, port) in found.items()} == {
        f"node-{i}": BASE_PORT + i - 1 for i in range(1, NODES + 1)
    }
    assert {host for host, _ in found.values()} <= lab_hosts


def test_services_join_the_host_network_and_publish_nothing(cluster: Deployed) -> None:
    lab = cluster.lab
    assert lab.docker(1, "network", "ls", "-q", "--filter", NAMESPACE).strip() == ""
    names = lab.docker(1, "service", "ls", "--filter", NAMESPACE, "--format", "{{.Name}}").split()
    assert len(names) == NODES
    for name in names:
        spec = json.loads(lab.docker(1, "service", "inspect", name, "--format", "{{json .Spec}}"))
        (target,) = [n["Target"] for n in spec["TaskTemplate"]["Networks"]]
        network = lab.docker(1, "network", "inspect", target, "--format", "{{.Name}} {{.Driver}}")
        assert network.split() == ["host", "host"]  # Swarm's predefined host network
        assert not spec["EndpointSpec"].get("Ports")


def test_each_node_listens_only_on_its_host_address(cluster: Deployed) -> None:
    _, report = cluster.status()
    prefix = os.environ.get("LAB_NS_PREFIX", "srlab-h")
    ports = {p for _, p in _endpoints(report).values()}
    ports |= {p + 10000 for p in ports}  # the cluster bus
    for k in range(1, cluster.lab.size + 1):
        listening = subprocess.check_output(
            ["nsenter", f"--net=/run/netns/{prefix}{k}", "ss", "-Hltn"], text=True
        )
        ours = [line.split()[3] for line in listening.splitlines() if line.strip()]
        ours = [local for local in ours if int(local.rsplit(":", 1)[1]) in ports]
        assert ours, f"no node of {STACK} listens on lab host {k}"
        assert {local.rsplit(":", 1)[0] for local in ours} == {cluster.lab.addr(k)}


@pytest.mark.anyio
async def test_cluster_client_outside_the_swarm_uses_the_host_addresses(
    cluster: Deployed,
) -> None:
    _, report = cluster.status()
    found = _endpoints(report)
    host, port = found["node-1"]
    certs = cluster.certs / STACK
    # No address remapping and full hostname checks: the nodes announce their host
    # addresses and ports, and their certificates carry those addresses.
    client = RedisCluster(
        host=host,
        port=port,
        ssl=True,
        ssl_check_hostname=True,
        ssl_ca_certs=str(certs / "ca.crt"),
        ssl_certfile=str(certs / "clients" / "app.crt"),
        ssl_keyfile=str(certs / "clients" / "app.key"),
        username="app",
        password=password(cluster.certs, STACK, "app"),
    )
    try:
        for i in range(50):
            await client.set(f"app:{i}", str(i))
        assert [await client.get(f"app:{i}") for i in (0, 25, 49)] == [b"0", b"25", b"49"]
        with pytest.raises(redis.exceptions.NoPermissionError):
            await client.set("other:1", "x")  # the ACL is unchanged: only app:* keys
        announced = {(n.host, n.port) for n in client.get_nodes()}
        primaries = {found[n["name"]] for n in report["nodes"] if n["role"] == "primary"}
        assert primaries <= announced <= set(found.values())
    finally:
        await client.aclose()


@pytest.mark.anyio
async def test_rolling_update_restarts_every_node_on_its_port_and_keeps_the_keys(
    cluster: Deployed,
) -> None:
    data = yaml.safe_load(cluster.stack_file.read_text())
    data["resources"]["memory"] = "384M"
    cluster.stack_file.write_text(yaml.safe_dump(data))
    updated = cluster.deploy()
    assert updated.returncode == 0, updated.stdout[-3000:] + updated.stderr
    assert "CLUSTER FAILOVER" in updated.stdout  # primaries handed over before restarting
    code, report = cluster.status()
    assert code == 0, report["problems"]
    assert {n["name"]: n["endpoint"].rsplit(":", 1)[1] for n in report["nodes"]} == {
        f"node-{i}": str(BASE_PORT + i - 1) for i in range(1, NODES + 1)
    }
    host, port = _endpoints(report)["node-1"]
    certs = cluster.certs / STACK
    client = RedisCluster(
        host=host,
        port=port,
        ssl=True,
        ssl_ca_certs=str(certs / "ca.crt"),
        ssl_certfile=str(certs / "clients" / "app.crt"),
        ssl_keyfile=str(certs / "clients" / "app.key"),
        username="app",
        password=password(cluster.certs, STACK, "app"),
    )
    try:
        assert [await client.get(f"app:{i}") for i in range(50)] == [
            str(i).encode() for i in range(50)
        ]
    finally:
        await client.aclose()


def test_another_stack_on_taken_host_ports_is_refused_before_anything_is_written(
    cluster: Deployed, tmp_path: Path
) -> None:
    _, report = cluster.status()
    host = next(n["host"] for n in report["nodes"] if n["name"] == "node-1")
    data = {
        "name": f"{STACK}2",
        "mode": "standalone",
        "network": {"mode": "host"},
        "access": {"base_port": BASE_PORT},  # node-1's port, on node-1's host
        "placement": {"constraints": [f"node.hostname == {host}"]},
    }
    stack_file = tmp_path / "clash.yaml"
    stack_file.write_text(yaml.safe_dump(data))
    refused = cli(
        "deploy", str(stack_file), "--certs-dir", str(tmp_path), docker_host=cluster.lab.docker_host
    )
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert f"node-1 needs port {BASE_PORT}, held by {STACK}/node-1" in refused.stderr
    namespace = f"label=com.docker.stack.namespace={STACK}2"
    assert cluster.lab.docker(1, "service", "ls", "-q", "--filter", namespace).strip() == ""


def test_second_deploy_changes_nothing(cluster: Deployed) -> None:
    again = cluster.deploy("--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout.strip().splitlines()[-1])  # JSON lines; result is last
    assert result["result"]["changes"] == 0
    assert result["result"]["bootstrap"]["actions"] == []
    plan = cli(
        "plan",
        str(cluster.stack_file),
        "--certs-dir",
        str(cluster.certs),
        docker_host=cluster.lab.docker_host,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_rm_with_volumes_leaves_nothing(cluster: Deployed) -> None:
    lab = cluster.lab
    removed = cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=lab.docker_host)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    for kind in ("service", "secret", "config", "network"):
        assert lab.docker(1, kind, "ls", "-q", "--filter", NAMESPACE).strip() == "", kind
    for k in range(1, lab.size + 1):  # rm --volumes empties the volumes on every host
        for volume in lab.docker(k, "volume", "ls", "-q", "--filter", NAMESPACE).split():
            left = lab.docker(k, "run", "--rm", "-v", f"{volume}:/v", "redis:7.0", "ls", "-A", "/v")
            assert left.strip() == "", (k, volume)


REPLICATION = "ithostr"
REPLICATION_PORT = 7720


@pytest.fixture(scope="module")
def replication(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """stacks/replication.yaml on the host network: nodes on 7720-7722, sentinels 7723-7725."""
    tmp = tmp_path_factory.mktemp(REPLICATION)
    path = stack_copy(tmp, "replication", REPLICATION, REPLICATION_PORT)
    data = yaml.safe_load(path.read_text())
    data["network"] = {"mode": "host"}
    data.pop("port", None)
    data["sentinel"].pop("port", None)
    path.write_text(yaml.safe_dump(data))
    cli("rm", REPLICATION, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)
    done = cli("deploy", str(path), "--certs-dir", str(tmp), docker_host=swarm_lab.docker_host)
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        yield tmp
    finally:
        cli("rm", REPLICATION, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


@pytest.mark.anyio
async def test_replication_on_the_host_network_replicates_by_host_address(
    swarm_lab: SwarmLab, replication: Path
) -> None:
    code, report = status_json(REPLICATION, replication, swarm_lab.docker_host)
    assert code == 0, report["problems"]
    found = _endpoints(report)
    assert {name: port for name, (_, port) in found.items()} == {
        **{f"node-{i}": REPLICATION_PORT + i - 1 for i in (1, 2, 3)},
        **{f"sentinel-{j}": REPLICATION_PORT + 2 + j for j in (1, 2, 3)},
    }
    certs = replication / REPLICATION

    def client(node: str) -> aioredis.Redis:
        host, port = found[node]
        return aioredis.Redis(
            host=host,
            port=port,
            ssl=True,
            ssl_check_hostname=True,  # the certificates carry the host addresses
            socket_timeout=5,
            ssl_ca_certs=str(certs / "ca.crt"),
            ssl_certfile=str(certs / "clients" / "web.crt"),
            ssl_keyfile=str(certs / "clients" / "web.key"),
            username="web",
            password=password(replication, REPLICATION, "web"),
        )

    primary, replica = client("node-1"), client("node-3")
    try:
        await primary.set("session:1", "x")
        assert await primary.wait(2, 5000) == 2  # both replicas acknowledged it
        assert await replica.get("session:1") == b"x"
    finally:
        await primary.aclose()
        await replica.aclose()
