"""ServiceSpec (Docker Engine API v1.41) of each Redis node and sentinel.

Hardening: Docker's init as PID 1 (it reaps orphans and forwards signals), user
999:999 from the start (the image's entrypoint then skips its root-only chown/gosu
path), ``CapabilityDrop: ["ALL"]`` (API >= 1.41), read-only root filesystem (Redis
writes only to ``/data``, a named volume), secrets 0400 owned by 999. Health is
checked without credentials: a node that answers PING with PONG or NOAUTH is up, and no
password ever sits on a command line (the address healing that follows the check in
cluster mode reads its password from a secret: plan/heal.py).

With ``network.mode: host`` a service joins Swarm's predefined ``host`` network
(``Target: host``; the API stores the network's id) with no alias and no published
port: the node listens on its host port itself. Its health check dials the host's
address, the one address Redis binds there. It sets no sysctl: runc refuses
``net.*`` sysctls in the host's network namespace (measured on the lab, Docker
20.10: ``sysctl "net.core.somaxconn" not allowed in host network namespace``), so
the host's own ``net.core.somaxconn`` applies.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from swarmredis import labels
from swarmredis.constants import BUS_PORT_OFFSET
from swarmredis.plan.heal import heal_script, with_heal
from swarmredis.plan.objects import DesiredObject, finish, object_labels
from swarmredis.plan.redisconf import (
    DATA_DIR,
    REDIS_CONF_PATH,
    SENTINEL_CONF_PATH,
    secret_path,
)
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.topology import LogicalNode

USER = "999:999"
OWNER = "999"
SECRET_MODE = 0o400
CONFIG_MODE = 0o444
SECOND = 1_000_000_000  # the API counts durations in nanoseconds
SYSCTLS = {"net.core.somaxconn": "1024"}  # matches Redis' tcp-backlog 511 with headroom
# Redis resolves names on its main thread (a replica its primary, a sentinel its
# peers and replicas). A task's alias is missing from the overlay DNS for a while
# after it starts or moves, and Docker's embedded DNS then forwards the query
# upstream; an upstream that does not answer (air-gapped hosts) stalled each lookup
# for 10 s with glibc's defaults (5 s x 2 attempts), long enough for the health
# check to kill the node and start a cascade. One second, one attempt: the
# embedded DNS answers a known alias in well under a millisecond.
DNS_OPTIONS = ["timeout:1", "attempts:1"]

# Sentinel rewrites its config, so it runs from a copy in /data. The copy is
# refreshed only when its inputs change, so a restart keeps what the sentinel
# learned (current primary, epochs). Only sh builtins and cat: minimal images
# have little else. umask: the copy holds auth-pass lines.
SENTINEL_START = f"""set -eu
umask 077
new="$(cat {SENTINEL_CONF_PATH} {secret_path("sentinel-auth.conf")})"
old="$(cat {DATA_DIR}/sentinel.src 2>/dev/null || true)"
if [ "$new" != "$old" ]; then
  printf '%s\\n' "$new" > {DATA_DIR}/sentinel.conf
  printf '%s\\n' "$new" > {DATA_DIR}/sentinel.src
fi
exec redis-server {DATA_DIR}/sentinel.conf --sentinel
"""


def node_secrets(stack: Stack, node: LogicalNode) -> tuple[str, ...]:
    """Logical names of the secrets mounted into ``node``'s containers."""
    tls = ("ca.crt", *own_secrets(node))
    if node.kind == "sentinel":
        return (*tls, "sentinel-auth.conf")
    return (*tls, "users.acl", "replication-auth.conf")


def own_secrets(node: LogicalNode) -> tuple[str, ...]:
    """The secrets only ``node`` mounts: its certificate and key."""
    return (f"{node.name}.crt", f"{node.name}.key")


def config_logical(node: LogicalNode) -> str:
    """Logical name of a node's Swarm config: ``redis-node-1.conf`` or ``sentinel-1.conf``."""
    return f"redis-{node.name}.conf" if node.kind == "redis" else f"{node.name}.conf"


def heals_addresses(stack: Stack, node: LogicalNode) -> bool:
    """Whether the node's health check heals peer addresses (plan/heal.py): cluster nodes
    on the overlay, whose addresses change when tasks restart. Host addresses
    (``announce: host``, ``network.mode: host``) stay put."""
    return (
        stack.mode == "cluster"
        and node.kind == "redis"
        and not stack.host_network
        and stack.announce == "hostname"
    )


# A Sentinel resolves its peers' names on its main thread: while its host is cut off, each
# lookup waits out its 1 s timeout and the Sentinel answers PING late. Three failed checks
# (15 s) had Swarm kill one right after a partition healed (CI), and the restarted Sentinel
# came back naming the old primary and made the new one its replica: no primary at all.
# A Sentinel that is alive but slow is left alone for 2 minutes; one that exits is
# restarted by Swarm at once.
SENTINEL_RETRIES = 24


def healthcheck(stack: Stack, node: LogicalNode, host_addr: str | None = None) -> dict[str, Any]:
    """HealthConfig: PING over TLS with the node's own certificate, no password.

    On the overlay it dials 127.0.0.1 in the container's own network namespace; with
    ``network.mode: host`` the host's address ``host_addr``, where the node binds.
    """
    if stack.host_network and not host_addr:
        raise ValueError(f"{node.name}: network mode host needs the address of its host")
    tls = ["--tls", "--cacert", secret_path("ca.crt")]
    tls += ["--cert", secret_path(f"{node.name}.crt"), "--key", secret_path(f"{node.name}.key")]
    target = host_addr if stack.host_network and host_addr else "127.0.0.1"
    cli = ["redis-cli", *tls, "-h", target, "-p", str(node.port), "ping"]
    answered = f'case "$({shlex.join(cli)} 2>&1)" in *PONG*|*NOAUTH*)'
    test = f"{answered} exit 0;; *) exit 1;; esac"
    if heals_addresses(stack, node):
        auth = secret_path("replication-auth.conf")
        heal = heal_script(tls, auth, node.port, node.port + BUS_PORT_OFFSET)
        test = with_heal(f"{answered} ;; *) exit 1;; esac", heal)
    # Swarm reports a task "running" only after its first passing check, so the interval
    # bounds how fast a deploy converges (10 s cost 12 s per deploy on the lab); one
    # redis-cli PING every 5 s is cheap.
    return {
        "Test": ["CMD-SHELL", test],
        "Interval": 5 * SECOND,
        "Timeout": 5 * SECOND,
        "Retries": SENTINEL_RETRIES if node.kind == "sentinel" else 3,
        "StartPeriod": 30 * SECOND,
    }


def _ports(stack: Stack, node: LogicalNode) -> list[dict[str, Any]]:
    if stack.host_network:
        return []  # the node listens on its host port itself
    ports = []
    if node.published_port is not None:
        ports.append(_port(node.port, node.published_port))
    if node.bus_published_port is not None:
        ports.append(_port(node.port + BUS_PORT_OFFSET, node.bus_published_port))
    return ports


def _port(target: int, published: int) -> dict[str, Any]:
    return {
        "Protocol": "tcp",
        "TargetPort": target,
        "PublishedPort": published,
        "PublishMode": "host",
    }


def _container(
    stack: Stack,
    node: LogicalNode,
    secret_names: Mapping[str, str],
    config_name: str,
    host_addr: str | None,
) -> dict[str, Any]:
    secrets = [
        {"File": _file(logical, SECRET_MODE), "SecretName": secret_names[logical]}
        for logical in node_secrets(stack, node)
    ]
    target = REDIS_CONF_PATH if node.kind == "redis" else SENTINEL_CONF_PATH
    container: dict[str, Any] = {
        "Image": stack.image,
        "Labels": {labels.STACK_NAMESPACE: stack.name},
        "Hostname": node.alias,
        "User": USER,
        # Docker's own init (tini, from the engine, not the image) as PID 1: it reaps what
        # the health check leaves behind. redis-server as PID 1 reaps no stranger: every
        # address-healing step (plan/heal.py) stayed a zombie, 17,000 a day per node,
        # and a zombie's pid still answers `kill -0` (measured on the lab).
        "Init": True,
        "ReadOnly": True,
        "CapabilityDrop": ["ALL"],
        "Sysctls": dict(SYSCTLS),
        "Mounts": [_volume(stack, node)],
        "Secrets": secrets,
        "Configs": [{"File": _file(target, CONFIG_MODE), "ConfigName": config_name}],
        "Healthcheck": healthcheck(stack, node, host_addr),
        "DNSConfig": {"Options": list(DNS_OPTIONS)},
        "StopGracePeriod": 30 * SECOND,  # time to finish an RDB/AOF write on shutdown
    }
    if stack.host_network:
        del container["Sysctls"]
    if node.kind == "redis":
        container["Args"] = ["redis-server", REDIS_CONF_PATH]
    else:
        container["Command"] = ["sh", "-c", SENTINEL_START]
    return container


def _file(name: str, mode: int) -> dict[str, Any]:
    return {"Name": name, "UID": OWNER, "GID": OWNER, "Mode": mode}


def _volume(stack: Stack, node: LogicalNode) -> dict[str, Any]:
    return {
        "Type": "volume",
        "Source": node.volume,
        "Target": DATA_DIR,
        "VolumeOptions": {"Labels": {labels.STACK_NAMESPACE: stack.name, labels.NODE: node.name}},
    }


def _resources(stack: Stack) -> dict[str, Any]:
    limits: dict[str, Any] = {"MemoryBytes": stack.resources.memory}
    if stack.resources.cpus is not None:
        limits["NanoCPUs"] = round(stack.resources.cpus * SECOND)
    return {"Limits": limits}


def _node_labels(stack: Stack, node: LogicalNode) -> dict[str, str | None]:
    return {
        labels.ROLE: node.kind,
        labels.NODE: node.name,
        labels.PLANNED_ROLE: node.role,
        labels.SHARD: None if node.shard is None else str(node.shard),
        # status reads a node's port from its published ports; on the host network there
        # are none, so the port is a label (only there: overlay specs stay as they were)
        labels.HOST_PORT: str(node.port) if stack.host_network else None,
    }


def _networks(stack: Stack, node: LogicalNode) -> list[dict[str, Any]]:
    if stack.host_network:
        return [{"Target": stack.network.name}]  # "host": aliases need a user network
    return [{"Target": stack.network.name, "Aliases": [node.alias]}]


def service_object(
    stack: Stack,
    node: LogicalNode,
    swarm_node: str,
    secret_names: Mapping[str, str],
    config_name: str,
    host_addr: str | None = None,
    live: Mapping[str, str] | None = None,
) -> DesiredObject:
    """The ServiceSpec of ``node``, pinned to Swarm node id ``swarm_node`` (whose address
    ``host_addr`` the health check needs with ``network.mode: host``); ``live``: the
    labels of its live settings (``plan.liveconf.live_labels``)."""
    constraints: Sequence[str] = (f"node.id=={swarm_node}", *stack.placement.constraints)
    endpoint: dict[str, Any] = {"Mode": "dnsrr"}
    if ports := _ports(stack, node):
        endpoint["Ports"] = ports
    spec: dict[str, Any] = {
        "Name": node.service,
        "Labels": {**object_labels(stack, "service", **_node_labels(stack, node)), **(live or {})},
        "TaskTemplate": {
            "ContainerSpec": _container(stack, node, secret_names, config_name, host_addr),
            "Resources": _resources(stack),
            "RestartPolicy": {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0},
            "Placement": {"Constraints": list(constraints)},
            "Networks": _networks(stack, node),
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "UpdateConfig": {
            "Parallelism": stack.update.parallelism,
            "Delay": round(stack.update.delay * SECOND),
            "FailureAction": "pause",
            "Monitor": 15 * SECOND,
            "Order": "stop-first",  # one task per service: the volume cannot be shared
        },
        "EndpointSpec": endpoint,
    }
    return finish("service", node.service, node.name, spec)
