"""``Stack`` -> logical nodes: names, roles, shards, services, aliases and ports.

A fresh stack's naming follows docs/architecture.md: cluster primaries ``node-1..node-S``
(shard k's primary is ``node-k``), then replica r of shard k is
``node-{S + (k-1)*R + r}``; replication: ``node-1`` primary, ``node-2..`` replicas,
``sentinel-1..``; standalone: ``node-1``. A live stack keeps the identities it has
(``stackfile/identity.py``): its ``Layout`` is read from its services
(``plan/seating.py``), and a changed count only adds or retires seats. A retiring seat
stays in the layout (flagged ``retiring``) until ``deploy`` has drained, forgotten and
removed it: its service is left as it is meanwhile, and no slot is planned for it.

Ports: with ``access.publish: host`` a node at port position p is reached on its host at
``access.base_port + p - 1``. A fresh stack's positions are its Redis nodes' indices,
then the sentinels'; a live node keeps its position, and a new one takes the lowest free
one (so a replica added to a replication stack does not take a sentinel's port). On the
overlay a node listens on ``port`` (``sentinel.port``) behind that published port; with
``network.mode: host`` it listens on the host port itself, so ``port`` and
``published_port`` are the same and the cluster bus is that port + 10000.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from swarmredis import labels
from swarmredis.constants import BUS_PORT_OFFSET
from swarmredis.stackfile.identity import Seat, fresh_seats
from swarmredis.stackfile.model import Stack

Kind = Literal["redis", "sentinel"]
Role = Literal["primary", "replica", "standalone", "sentinel"]


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
    retiring: bool = False  # a seat a lower count retires: drained, forgotten, removed


@dataclass(frozen=True)
class Layout:
    """The Redis nodes' seats and every node's port position (1-based, see the module doc)."""

    seats: tuple[Seat, ...]
    positions: Mapping[str, int]  # logical name -> position, sentinels included
    retiring: frozenset[str] = frozenset()  # seats (among ``seats``) a lower count retires


def sentinel_names(stack: Stack) -> tuple[str, ...]:
    return tuple(f"sentinel-{j}" for j in range(1, stack.sentinel_count + 1))


def fresh_layout(stack: Stack) -> Layout:
    """The layout of ``stack`` deployed for the first time."""
    seats = fresh_seats(stack.mode, stack.shards, stack.replicas)
    names = [s.name for s in sorted(seats)] + list(sentinel_names(stack))
    return Layout(seats, {name: p for p, name in enumerate(names, start=1)})


def topology(stack: Stack, layout: Layout | None = None) -> tuple[LogicalNode, ...]:
    """Every logical node of ``stack`` (laid out as ``layout``, by default a fresh stack's):
    Redis nodes first (by index), then sentinels."""
    layout = layout or fresh_layout(stack)
    heads = {s.shard: s.name for s in layout.seats if s.role == "primary"}
    nodes = [
        _redis(stack, seat, layout.positions[seat.name], heads.get(seat.shard), layout.retiring)
        for seat in sorted(layout.seats)
    ]
    nodes += [
        _sentinel(stack, j, layout.positions[name])
        for j, name in enumerate(sentinel_names(stack), start=1)
    ]
    return tuple(nodes)


def _redis(
    stack: Stack, seat: Seat, position: int, head: str | None, retiring: frozenset[str]
) -> LogicalNode:
    """The node at ``seat``; ``head``: its shard's (or the stack's) planned primary."""
    index, shard, name = seat.index, seat.shard, seat.name
    role: Role = seat.role
    primary = head if role == "replica" else None
    published = _published(stack, position)
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
        retiring=name in retiring,
    )


def _sentinel(stack: Stack, index: int, position: int) -> LogicalNode:
    name = f"sentinel-{index}"
    published = _published(stack, position)
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
