"""Real local redis-server processes (TLS only, on 127.0.0.1) for the peers tests."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from testkit import free_port

from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.gateway.endpoint import RedisEndpoint

from .tlsmaterial import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    REPLICATION_PASSWORD,
    REPLICATION_USER,
    SENTINEL_PASSWORD,
    SENTINEL_USER,
    TLSMaterial,
)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
MASTER_NAME = "mymaster"
NODE_TIMEOUT_MS = 2000


def _tls_lines(tls: TLSMaterial, port: int, directory: Path) -> list[str]:
    return [
        "bind 127.0.0.1",
        "port 0",
        f"tls-port {port}",
        f"tls-cert-file {tls.server_cert}",
        f"tls-key-file {tls.server_key}",
        f"tls-ca-cert-file {tls.ca}",
        "tls-auth-clients yes",
        "tls-replication yes",
        f"dir {directory}",
        "logfile redis.log",
        "daemonize no",
    ]


def redis_config(
    tls: TLSMaterial, port: int, directory: Path, *, cluster: bool, replicaof: int | None = None
) -> str:
    """redis.conf of one data node, close to what the deployment writes."""
    lines = [
        *_tls_lines(tls, port, directory),
        f"aclfile {tls.acl_file}",
        'save ""',
        "appendonly no",
        f"masteruser {REPLICATION_USER}",
        f"masterauth {REPLICATION_PASSWORD}",
        "maxmemory 64mb",
        "enable-debug-command local",
        "repl-diskless-sync-delay 0",
    ]
    if cluster:
        lines += [
            "cluster-enabled yes",
            "tls-cluster yes",
            "cluster-config-file nodes.conf",
            f"cluster-node-timeout {NODE_TIMEOUT_MS}",
        ]
    if replicaof is not None:
        lines.append(f"replicaof 127.0.0.1 {replicaof}")
    return "\n".join(lines) + "\n"


def sentinel_config(tls: TLSMaterial, port: int, directory: Path, primary_port: int) -> str:
    """sentinel.conf monitoring the primary over TLS, with its own ACL users."""
    lines = [
        *_tls_lines(tls, port, directory),
        "user default off",
        f"user {ADMIN_USER} on >{ADMIN_PASSWORD} ~* &* +@all",
        f"sentinel sentinel-user {ADMIN_USER}",
        f"sentinel sentinel-pass {ADMIN_PASSWORD}",
        f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} 2",
        f"sentinel auth-user {MASTER_NAME} {SENTINEL_USER}",
        f"sentinel auth-pass {MASTER_NAME} {SENTINEL_PASSWORD}",
        f"sentinel down-after-milliseconds {MASTER_NAME} {NODE_TIMEOUT_MS}",
        f"sentinel failover-timeout {MASTER_NAME} 10000",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class RedisProcess:
    """One redis-server (or sentinel) process with its own directory and config."""

    name: str
    port: int
    directory: Path
    config: str
    sentinel: bool = False
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return self.directory / ("sentinel.conf" if self.sentinel else "redis.conf")

    def start(self) -> None:
        """Start the process (writing its config first) and wait until the port listens."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            self.config_path.write_text(self.config)
        args = [REDIS_SERVER, str(self.config_path)]
        if self.sentinel:
            args.append("--sentinel")
        self.proc = subprocess.Popen(args, cwd=self.directory, stdout=subprocess.DEVNULL)
        self._wait_listening()

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on {self.port}: {self.log_tail()}")

    def stop(self) -> None:
        """Kill the process (like a crashed container) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def wipe(self) -> None:
        """Forget the node's state (nodes.conf, data), as if its volume were lost."""
        for path in self.directory.iterdir():
            if path.name not in {self.config_path.name, "redis.log"}:
                path.unlink()

    def log_tail(self, lines: int = 15) -> str:
        log = self.directory / "redis.log"
        return "\n".join(log.read_text().splitlines()[-lines:]) if log.exists() else ""


def split_slots(shards: int) -> list[tuple[int, int]]:
    """Slots split as redis-cli does: shard k gets one contiguous range."""
    step = 16384 / shards
    return [(round(k * step), round((k + 1) * step) - 1) for k in range(shards)]


class Lab:
    """The redis-server processes of one test; ``stop_all`` kills every one of them."""

    def __init__(self, tls: TLSMaterial, root: Path) -> None:
        self.tls = tls
        self.root = root
        self.processes: dict[str, RedisProcess] = {}

    def add_node(self, name: str, *, cluster: bool, replicaof: int | None = None) -> RedisProcess:
        """Create and start one data node."""
        port = free_port()
        directory = self.root / name
        config = redis_config(self.tls, port, directory, cluster=cluster, replicaof=replicaof)
        return self._start(RedisProcess(name, port, directory, config))

    def add_sentinel(self, name: str, primary_port: int) -> RedisProcess:
        """Create and start one Sentinel monitoring the primary on this port."""
        port = free_port()
        directory = self.root / name
        config = sentinel_config(self.tls, port, directory, primary_port)
        return self._start(RedisProcess(name, port, directory, config, sentinel=True))

    def _start(self, process: RedisProcess) -> RedisProcess:
        self.processes[process.name] = process
        process.start()
        return process

    def cluster(self, shards: int = 3, replicas: int = 1) -> list[RedisProcess]:
        """Start the nodes of a cluster named as the topology contract names them."""
        total = shards * (1 + replicas)
        return [self.add_node(f"node-{i}", cluster=True) for i in range(1, total + 1)]

    def restart(self, name: str, *, wipe: bool = False, new_port: bool = False) -> RedisProcess:
        """Kill a node and start it again: with its state (nodes.conf) or wiped, on its old
        port or a new one (as a container that comes back with a new address)."""
        process = self.processes[name]
        process.stop()
        if wipe:
            process.wipe()
        if new_port:
            old, process.port = process.port, free_port()
            process.config = process.config.replace(
                f"tls-port {old}\n", f"tls-port {process.port}\n"
            )
            process.config_path.write_text(process.config)
        process.start()
        return process

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()


def cluster_members(
    processes: list[RedisProcess], shards: int = 3, replicas: int = 1
) -> list[ClusterMember]:
    """ClusterMembers for processes named node-1..N, following the topology contract."""
    slots = split_slots(shards)
    members = []
    for index, process in enumerate(processes, start=1):
        if index <= shards:
            role, primary, planned = "primary", None, (slots[index - 1],)
        else:
            role, primary, planned = "replica", f"node-{(index - shards - 1) // replicas + 1}", ()
        members.append(
            ClusterMember(
                name=process.name,
                endpoint=RedisEndpoint("127.0.0.1", process.port),
                meet_ip="127.0.0.1",
                meet_port=process.port,
                bus_port=process.port + 10000,
                role=role,  # type: ignore[arg-type]
                primary=primary,
                slots=planned,
            )
        )
    return members
