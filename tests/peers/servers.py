"""Real local redis-server processes (TLS only, on 127.0.0.1) running the product's files.

Each node gets the secrets its container would mount and the config the plan generates,
changed only by ``product.localize``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from testkit import eventually_sync, free_port, listening

from swarmredis import labels
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.pki.store import CertStore
from swarmredis.plan.placement import planned_slots
from swarmredis.plan.services import node_secrets
from swarmredis.stackfile import Stack, topology
from swarmredis.stackfile.topology import Layout, LogicalNode

from .product import (
    LOOPBACK,
    Local,
    cluster_shape,
    generated_config,
    localize,
    node_of,
    stack_material,
    stack_of,
)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@dataclass
class RedisProcess:
    """One redis-server (or sentinel) process: its folder, its config, its port."""

    name: str
    stack: Stack
    node: LogicalNode
    root: Path
    port: int
    peers: dict[str, int]  # the lab's overlay alias -> local port
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def sentinel(self) -> bool:
        return self.node.kind == "sentinel"

    @property
    def endpoint(self) -> RedisEndpoint:
        return RedisEndpoint(LOOPBACK, self.port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "redis.log"

    @property
    def config_path(self) -> Path:
        return self.root / ("sentinel.conf" if self.sentinel else "redis.conf")

    def write_files(self, material: Mapping[str, bytes]) -> None:
        """The secrets the node's container mounts (of the stack's ``material``) and its
        localized config (kept if it exists: Sentinel rewrites its own, and a restart must
        find what it learned)."""
        secrets = self.root / "secrets"
        for directory in (self.root, self.data, secrets):
            directory.mkdir(parents=True, exist_ok=True)
        for name in node_secrets(self.stack, self.node):
            (secrets / name).write_bytes(material[name])
            (secrets / name).chmod(0o600)
        if not self.config_path.exists():
            local = Local(self.port, self.data, secrets, self.log, self.peers)
            config = generated_config(self.stack, self.node, material)
            cluster = self.stack.mode == "cluster"
            self.config_path.write_text(localize(config, local, cluster=cluster))

    def start(self) -> None:
        """Start the process (its files written first) and wait until its port listens."""
        args = [REDIS_SERVER, str(self.config_path)] + (["--sentinel"] if self.sentinel else [])
        self.proc = subprocess.Popen(args, cwd=self.root, stdout=subprocess.DEVNULL)
        eventually_sync(self._listening, 10, f"{self.name} listening on {self.port}", 0.05)

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
        return listening(self.port)

    def stop(self) -> None:
        """Kill the process (like a crashed container) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def wipe(self) -> None:
        """Forget the node's state (nodes.conf, data), as if its volume were lost."""
        for path in self.data.iterdir():
            path.unlink()

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text().splitlines()[-lines:]) if self.log.exists() else ""


class Lab:
    """The redis-server processes of one test; ``stop_all`` kills every one of them."""

    def __init__(self, store: CertStore, root: Path) -> None:
        self.store = store
        self.root = root
        self.processes: dict[str, RedisProcess] = {}
        self.ports: dict[str, int] = {}  # overlay alias -> local port
        self.materials: dict[str, dict[str, bytes]] = {}  # stack (as JSON) -> its secrets

    def material(self, stack: Stack) -> dict[str, bytes]:
        """The secrets of ``stack``, its certificates issued first where missing."""
        key = stack.model_dump_json()
        if key not in self.materials:
            self.materials[key] = stack_material(self.store, stack)
        return self.materials[key]

    def prepare(self, name: str, stack: Stack, layout: Layout | None = None) -> RedisProcess:
        """Write the files of ``stack``'s node ``name``, without starting it (a container
        still starting)."""
        node = node_of(stack, name, layout)
        process = RedisProcess(name, stack, node, self.root / name, free_port(), self.ports)
        self.ports[labels.dns_alias(stack.name, name)] = process.port
        process.write_files(self.material(stack))
        self.processes[name] = process
        return process

    def add_node(self, name: str, stack: Stack, layout: Layout | None = None) -> RedisProcess:
        """Create and start node (or sentinel) ``name`` of ``stack`` (laid out as ``layout``)."""
        process = self.prepare(name, stack, layout)
        process.start()
        return process

    def cluster(self, shards: int = 3, replicas: int = 1) -> list[RedisProcess]:
        """Start every node of a cluster stack of this shape."""
        stack = stack_of("cluster", shards=shards, replicas=replicas)
        return [self.add_node(n.name, stack) for n in topology(stack)]

    def replication(self) -> tuple[RedisProcess, list[RedisProcess], list[RedisProcess]]:
        """Start the replication stack: its primary, its replicas, its sentinels."""
        stack = stack_of("replication")
        started = [self.add_node(n.name, stack) for n in topology(stack)]
        data = [p for p in started if not p.sentinel]
        return data[0], data[1:], [p for p in started if p.sentinel]

    def restart(self, name: str, *, wipe: bool = False, new_port: bool = False) -> RedisProcess:
        """Kill a node and start it again: with its state (nodes.conf) or wiped, on its old
        port or a new one (as a container that comes back with a new address)."""
        process = self.processes[name]
        process.stop()
        if wipe:
            process.wipe()
        if new_port:
            process.port = free_port()
            self.ports[labels.dns_alias(process.stack.name, name)] = process.port
            process.config_path.unlink()
            process.write_files(self.material(process.stack))
        process.start()
        return process

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()


def cluster_members(
    processes: list[RedisProcess], shards: int = 3, replicas: int = 1
) -> list[ClusterMember]:
    """ClusterMembers of ``processes``, given the roles and slots of the nodes at the same
    positions in the plan of a ``shards`` x ``replicas`` cluster."""
    planned = topology(cluster_shape(shards, replicas))
    name_at = {node.name: process.name for node, process in zip(planned, processes, strict=True)}
    slots = planned_slots([n.name for n in planned if n.role == "primary"])
    return [
        ClusterMember(
            name=process.name,
            endpoint=process.endpoint,
            meet_ip=LOOPBACK,
            meet_port=process.port,
            bus_port=process.port + 10000,
            role="primary" if node.role == "primary" else "replica",
            primary=name_at[node.primary] if node.primary else None,
            slots=(slots[node.name],) if node.name in slots else (),
        )
        for node, process in zip(planned, processes, strict=True)
    ]
