"""``Stack`` -> logical nodes: names, roles, shards, services, aliases and ports.

Naming follows docs/architecture.md: cluster primaries ``node-1..node-S``
(shard k's primary is ``node-k``), then replica r of shard k is
``node-{S + (k-1)*R + r}``; replication: ``node-1`` primary, ``node-2..``
replicas, ``sentinel-1..``; standalone: ``node-1``.

Ports: with ``access.publish: host`` node i (sentinels following the Redis nodes) is
reached on its host at ``access.base_port + i - 1``. On the overlay it listens on
``port`` (``sentinel.port``) behind that published port; with ``network.mode: host``
it listens on the host port itself, so ``port`` and ``published_port`` are the same
and the cluster bus is that port + 10000.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from swarmredis import labels
from swarmredis.constants import BUS_PORT_OFFSET
from swarmredis.stackfile.model import Stack

Kind = Literal["redis", "sentinel"]
Role = Literal["primary", "replica", "standalone", "sentinel"]
Shape = tuple[Role, int | None, str | None]  # role, shard, primary


@dataclass(frozen=True)
class LogicalNode:
    """One Redis node or sentinel of the stack, before it is placed on a host."""

    name: str
    kind: Kind
    role: Role
    index: int  # 1-based within its kind
    shard: int | None
    primary: str | None  # logical name of the planned primary (replicas only)
    service: str
    alias: str
    port: int  # where it listens (its host port with network.mode host)
    published_port: int | None  # where it is reached on its host
    bus_published_port: int | None
    volume: str


def topology(stack: Stack) -> tuple[LogicalNode, ...]:
    """Every logical node of ``stack``: redis nodes first (by index), then sentinels."""
    primary: Shape = ("primary", None, None)
    replica: Shape = ("replica", None, "node-1")
    shapes: list[Shape]
    if stack.mode == "cluster":
        shapes = [("primary", k, None) for k in range(1, stack.shards + 1)]
        shapes += [
            ("replica", k, f"node-{k}")
            for k in range(1, stack.shards + 1)
            for _ in range(stack.replicas)
        ]
    elif stack.mode == "replication":
        shapes = [primary] + [replica] * stack.replicas
    else:
        shapes = [("standalone", None, None)]
    nodes = [_redis(stack, i, *shape) for i, shape in enumerate(shapes, start=1)]
    nodes += [_sentinel(stack, j, len(shapes)) for j in range(1, stack.sentinel_count + 1)]
    return tuple(nodes)


def _redis(
    stack: Stack, index: int, role: Role, shard: int | None, primary: str | None
) -> LogicalNode:
    name = f"node-{index}"
    published = _published(stack, index)
    port = published if stack.host_network and published is not None else stack.port
    bus = None
    if published is not None and stack.mode == "cluster" and stack.announce == "host":
        bus = published + BUS_PORT_OFFSET
    return LogicalNode(
        name=name,
        kind="redis",
        role=role,
        index=index,
        shard=shard,
        primary=primary,
        service=labels.object_name(stack.name, name),
        alias=labels.dns_alias(stack.name, name),
        port=port,
        published_port=published,
        bus_published_port=bus,
        volume=labels.volume_name(stack.name, index),
    )


def _sentinel(stack: Stack, index: int, redis_count: int) -> LogicalNode:
    name = f"sentinel-{index}"
    published = _published(stack, redis_count + index)
    port = published if stack.host_network and published is not None else stack.sentinel.port
    return LogicalNode(
        name=name,
        kind="sentinel",
        role="sentinel",
        index=index,
        shard=None,
        primary=None,
        service=labels.object_name(stack.name, name),
        alias=labels.dns_alias(stack.name, name),
        port=port,
        published_port=published,
        bus_published_port=None,
        volume=labels.sentinel_volume_name(stack.name, index),
    )


def _published(stack: Stack, position: int) -> int | None:
    if stack.access.publish != "host":
        return None
    return stack.access.base_port + position - 1
