"""Helpers for tests against the lab: the real CLI, stack copies, clients inside and outside."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from redis.asyncio.cluster import ClusterNode, RedisCluster
from testkit.tls import ClientFiles

if TYPE_CHECKING:
    from .conftest import SwarmLab

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, docker_host: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `swarmredis ARGS --docker-host H` as a user would; never raises on exit codes."""
    return subprocess.run(
        [sys.executable, "-m", "swarmredis", *args, "--docker-host", docker_host],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


NEXT_IMAGE = "redis:7.0-next"  # a second tag of the lab image (tests tag it on the hosts)
FAST_UPDATE = {"parallelism": 1, "delay": "1s"}  # rolling batches without the 5 s pauses


def stack_copy(tmp_path: Path, source: str, name: str, base_port: int, **overrides: Any) -> Path:
    """stacks/SOURCE.yaml renamed (objects, network, ports apart from other tests)."""
    data = yaml.safe_load((ROOT / "stacks" / f"{source}.yaml").read_text())
    data["name"] = name
    data.setdefault("network", {})["name"] = f"{name}_net"
    data.setdefault("access", {})["base_port"] = base_port
    data.update(overrides)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def status_json(stack: str, certs: Path, docker_host: str) -> tuple[int, dict[str, Any]]:
    """`swarmredis status STACK --json`: exit code and report."""
    result = cli("status", stack, "--json", "--certs-dir", str(certs), docker_host=docker_host)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def password(certs: Path, stack: str, user: str) -> str:
    return (certs / stack / "users" / f"{user}.password").read_text().strip()


def endpoints(stack: str, certs: Path, docker_host: str) -> dict[tuple[str, int], tuple[str, int]]:
    """Overlay alias:6379 -> host address:published port, from `status --json`."""
    _, report = status_json(stack, certs, docker_host)
    out = {}
    for node in report["nodes"]:
        host, port = node["endpoint"].rsplit(":", 1)
        out[(f"{stack}-{node['name']}", 6379)] = (host, int(port))
    return out


async def cluster_client(
    stack: str, certs: Path, docker_host: str, user: str, files: ClientFiles | None = None
) -> RedisCluster:
    """A cluster-aware client from outside the overlay: it dials the published ports.

    Node certificates name the overlay aliases; from the manager we dial host addresses,
    so the chain is verified but not the name. ``files``: other TLS files than the
    store's current ones (kept from before a renewal or CA rotation).
    """
    tls = files or ClientFiles.of_store(certs / stack, user)
    remap = endpoints(stack, certs, docker_host)
    client = RedisCluster(
        # every node: the client starts from the first that answers (one may be restarting)
        startup_nodes=[ClusterNode(host, port) for host, port in remap.values()],
        ssl=True,
        ssl_ca_certs=str(tls.ca),
        ssl_certfile=str(tls.cert),
        ssl_keyfile=str(tls.key),
        ssl_check_hostname=False,
        username=user,
        password=password(certs, stack, user),
        address_remap=lambda addr: remap.get(addr, addr),
        socket_timeout=5,
        socket_connect_timeout=5,
    )
    await client.initialize()
    return client


@dataclass
class DeployedStack:
    """A stack that a module's fixture deployed, and what its tests do with it again."""

    stack: str
    lab: SwarmLab
    stack_file: Path
    certs: Path
    first: subprocess.CompletedProcess[str]  # the fixture's own deploy

    def deploy(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return cli(
            "deploy",
            str(self.stack_file),
            "--certs-dir",
            str(self.certs),
            *extra,
            docker_host=self.lab.docker_host,
        )

    def status(self) -> tuple[int, dict[str, Any]]:
        return status_json(self.stack, self.certs, self.lab.docker_host)

    def endpoints(self) -> dict[tuple[str, int], tuple[str, int]]:
        return endpoints(self.stack, self.certs, self.lab.docker_host)


@contextmanager
def deployed_stack(
    lab: SwarmLab, tmp: Path, source: str, name: str, base_port: int, **overrides: Any
) -> Iterator[DeployedStack]:
    """stacks/SOURCE.yaml deployed as NAME with a fresh certificate store under ``tmp``;
    removed with its volumes afterwards, whatever the test did (and before, in case an
    earlier run left it)."""
    stack_file = stack_copy(tmp, source, name, base_port, **overrides)
    certs = tmp / "certs"
    cli("rm", name, "--volumes", "--yes", "-q", docker_host=lab.docker_host)
    first = cli("deploy", str(stack_file), "--certs-dir", str(certs), docker_host=lab.docker_host)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr
    try:
        yield DeployedStack(name, lab, stack_file, certs, first)
    finally:
        cli("rm", name, "--volumes", "--yes", "-q", docker_host=lab.docker_host)


def secret_versions(docker_host: str, stack: str) -> dict[str, int]:
    """Logical secret name -> how many versions of it Swarm holds for the stack."""
    label = f"label=io.swarmredis.stack={stack}"
    listed = subprocess.run(
        [
            "docker",
            "--host",
            docker_host,
            "secret",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            label,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    counts: dict[str, int] = {}
    for name in listed.stdout.split():
        logical = name.rsplit(".", 1)[0]
        counts[logical] = counts.get(logical, 0) + 1
    return counts
