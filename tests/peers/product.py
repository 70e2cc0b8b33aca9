"""What the product generates, run by local redis-server processes.

A stack file parsed by ``swarmredis.stackfile``; its CA, certificates and passwords from
``swarmredis.pki`` (``ensure_certs``, as deploy calls it); the secrets a node mounts from
``build_material`` (``users.acl``, ``replication-auth.conf``, ``sentinel-auth.conf``); each
node's redis.conf or sentinel.conf from ``swarmredis.plan.redisconf``. ``localize`` is the
one place where a generated file is changed to run here instead of in its container.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from swarmredis.pki import acl, manage
from swarmredis.pki.ca import build_ca
from swarmredis.pki.keys import KeyType, key_to_pem
from swarmredis.pki.leaf import issue_client
from swarmredis.pki.material import SENTINEL_AUTH, build_material, stack_pki
from swarmredis.pki.store import CertStore
from swarmredis.plan.redisconf import DATA_DIR, SECRETS_DIR, redis_conf, sentinel_conf
from swarmredis.stackfile import Stack, parse_stack, topology
from swarmredis.stackfile.topology import Layout, LogicalNode

STACK = "acme"
MASTER_NAME = STACK  # the plan's sentinels monitor the primary under the stack's name
LOOPBACK = "127.0.0.1"
# Local only (see localize): a cluster node is failed after 2 s instead of Redis's 15 s.
NODE_TIMEOUT_MS = 2000

_STACK_FILE = """\
name: acme
mode: {mode}
image: redis:7.0
port: 6379
{shape}
resources:
  memory: 128M
  maxmemory_ratio: 0.5
persistence:
  appendonly: false
  save: ""
acl:
  users:
    - name: app
      keys: ["app:*"]
      channels: []
      commands: ["+@read", "+@write", "+@connection", "-@dangerous"]
config:
  repl-diskless-sync-delay: "0"
"""
_SENTINELS = """\
sentinel:
  count: 3
  quorum: 2
  port: 26379
  down_after: 2s
  failover_timeout: 10s
"""


def stack_of(mode: str, *, shards: int = 3, replicas: int = 1) -> Stack:
    """The peers' stack file of ``mode``: cluster ``shards`` x ``replicas``, replication
    with 2 replicas and 3 sentinels, or standalone; 64 MiB maxmemory, no persistence."""
    if mode == "cluster":
        shape = f"shards: {shards}\nreplicas: {replicas}\n"
    elif mode == "replication":
        shape = "replicas: 2\n" + _SENTINELS
    else:
        shape = ""
    return parse_stack(_STACK_FILE.format(mode=mode, shape=shape), f"<peers {mode} stack>")


STANDALONE = stack_of("standalone")
REPLICATION = stack_of("replication")
CLUSTER = stack_of("cluster")


def cluster_shape(shards: int, replicas: int) -> Stack:
    """The cluster stack with this shape, not validated again: the stack file allows 100
    shards, and benchmarks/status_scale.py runs 150 (300 nodes)."""
    return CLUSTER.model_copy(update={"shards": shards, "replicas": replicas})


def make_store(base: Path, key_type: KeyType = KeyType.ECDSA_P256) -> CertStore:
    """A certificate store with a CA, the leaves and passwords of every peers' stack."""
    store = CertStore(base, STACK)
    now = datetime.now(UTC)
    for stack in (CLUSTER, REPLICATION):  # their nodes' names cover every stack's
        manage.ensure_certs(store, stack_pki(stack), now=now, key_type=key_type)
    return store


def node_of(stack: Stack, name: str, layout: Layout | None = None) -> LogicalNode:
    """The logical node called ``name`` of ``stack`` (laid out as ``layout``: a live
    stack's after a scale-out, by default a fresh one's)."""
    nodes = {n.name: n for n in topology(stack, layout)}
    if name not in nodes:
        raise KeyError(f"{name} is not a node of the {stack.mode} stack: {sorted(nodes)}")
    return nodes[name]


def stack_material(store: CertStore, stack: Stack) -> dict[str, bytes]:
    """The secrets of ``stack`` by logical name (the plan mounts a node's
    ``node_secrets``), with its certificates and passwords made first as deploy does."""
    pki = stack_pki(stack)
    manage.ensure_certs(store, pki, now=datetime.now(UTC))
    return build_material(store, pki)


def generated_config(stack: Stack, node: LogicalNode, material: Mapping[str, bytes]) -> str:
    """The file ``node``'s container runs: its redis.conf, or for a sentinel its
    sentinel.conf followed by sentinel-auth.conf (what the service's start script does)."""
    if node.kind == "redis":
        return redis_conf(stack, node)
    primary = next(n for n in topology(stack) if n.role == "primary")
    return sentinel_conf(stack, node, primary) + material[SENTINEL_AUTH].decode()


# What ``localize`` may change in a generated line (its directive), and what it appends.
LOCALIZED = frozenset(
    {
        "tls-port",
        "tls-cert-file",
        "tls-key-file",
        "tls-ca-cert-file",
        "aclfile",
        "include",
        "dir",
        "cluster-config-file",
        "replicaof",
        "replica-announce-ip",
        "replica-announce-port",
        "sentinel monitor",
        "sentinel announce-ip",
        "sentinel announce-port",
    }
)
APPENDED = ("bind", "logfile", "cluster-node-timeout")


def directive(line: str) -> str:
    """The directive of a config line: its first word, two for ``sentinel`` lines."""
    words = line.split(" ")
    return " ".join(words[:2]) if words[0] == "sentinel" else words[0]


@dataclass(frozen=True)
class Local:
    """Where one node runs here: its port, folders, and the local ports of its peers."""

    port: int
    data: Path  # the container's /data volume
    secrets: Path  # the container's /run/secrets
    log: Path
    peers: Mapping[str, int]  # overlay alias -> local port, of the nodes started so far


def localize(config: str, local: Local, *, cluster: bool) -> str:
    """The generated ``config`` changed only where a process on this machine must differ.

    Each substitution, and why:

    1. ``/run/secrets/<name>`` -> ``<secrets>/<name>``: no Docker secrets here; the files
       hold the same bytes (``stack_material``).
    2. ``/data`` (``dir``, ``cluster-config-file``) -> the node's folder: no volume here.
    3. ``tls-port <port>`` -> a free local port: every container has the stack's port
       to itself, while here all nodes share 127.0.0.1.
    4. An overlay alias and port (``replicaof``, ``sentinel monitor``) -> 127.0.0.1 and
       that node's local port; ``replica-announce-*`` and ``sentinel announce-*`` ->
       127.0.0.1 and this node's local port: no overlay DNS resolves aliases here.
    5. Appended ``bind 127.0.0.1``: in a container the network namespace keeps it off
       other interfaces; here only loopback may listen.
    6. Appended ``logfile``: Docker collects the container's stdout; here the tests read
       the log from a file.
    7. Cluster nodes, appended ``cluster-node-timeout 2000``: the product leaves Redis's
       15 s, which would make every failover test wait 15 s or more.
    """
    lines = [_local_line(line.split(" "), local) for line in config.splitlines()]
    lines += [f"bind {LOOPBACK}", f"logfile {local.log}"]
    if cluster:
        lines.append(f"cluster-node-timeout {NODE_TIMEOUT_MS}")
    return "\n".join(lines) + "\n"


def _local_line(words: list[str], local: Local) -> str:
    words = [_local_path(word, local) for word in words]
    key = directive(" ".join(words))
    if key in ("tls-port", "replica-announce-port", "sentinel announce-port"):
        words[-1] = str(local.port)
    elif key in ("replica-announce-ip", "sentinel announce-ip"):
        words[-1] = LOOPBACK
    elif key == "replicaof":
        words[1:] = [LOOPBACK, str(local.peers[words[1]])]
    elif key == "sentinel monitor":  # sentinel monitor <name> <alias> <port> <quorum>
        words[3:5] = [LOOPBACK, str(local.peers[words[3]])]
    return " ".join(words)


def _local_path(word: str, local: Local) -> str:
    if word.startswith(SECRETS_DIR + "/"):
        return str(local.secrets / word.removeprefix(SECRETS_DIR + "/"))
    if word == DATA_DIR or word.startswith(DATA_DIR + "/"):
        return str(local.data) + word.removeprefix(DATA_DIR)
    return word


def foreign_client(directory: Path, store: CertStore) -> tuple[Path, Path]:
    """Certificate and key of the admin user, signed by another stack's CA (the product's
    own builders): a client the nodes must refuse."""
    now = datetime.now(UTC)
    leaf = issue_client(build_ca("rogue", now=now), user=acl.ADMIN, now=now)
    cert, key = directory / "rogue.crt", directory / "rogue.key"
    cert.write_bytes(manage.cert_pem([leaf.cert]))
    key.write_bytes(key_to_pem(leaf.key))
    key.chmod(0o600)
    return cert, key
