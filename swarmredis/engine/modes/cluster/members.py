"""Cluster members: each planned node as the engine dials it and as its peers MEET it (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from swarmredis.constants import BUS_PORT_OFFSET, CLUSTER_SLOTS
from swarmredis.engine.modes.base import endpoint_of
from swarmredis.engine.redis.replies import SlotRange
from swarmredis.errors import ConvergenceError
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.plan.state import DesiredState
from swarmredis.plan.tasks import Placed


@dataclass(frozen=True)
class ClusterMember:
    """One planned node of a cluster, as the engine reaches it and as Redis must MEET it.

    ``endpoint`` is where the engine dials (host address + published port); ``meet_ip``,
    ``meet_port`` and ``bus_port`` are what the other nodes use (overlay IP, TLS port, bus).
    A primary lists its planned ``slots``; a replica names its planned ``primary``. A
    ``retiring`` member (a lower shard or replica count) is planned no slots: a retiring
    primary gives all it serves to the kept ones (``moves.serving_primaries``).
    """

    name: str
    endpoint: RedisEndpoint
    meet_ip: str
    meet_port: int
    bus_port: int
    role: Literal["primary", "replica"]
    primary: str | None = None
    slots: tuple[SlotRange, ...] = ()
    server_name: str | None = None
    retiring: bool = False  # a lower count retires it: drained, forgotten, then removed

    @property
    def shard(self) -> str:
        """The shard, named after its planned primary."""
        return self.name if self.role == "primary" else (self.primary or "")


def cluster_members(desired: DesiredState, placed: Mapping[str, Placed]) -> list[ClusterMember]:
    """The bootstrap's view of each cluster node: how to dial it and how peers MEET it."""
    stack = desired.stack
    by_host = stack.announce == "host"
    members = []
    for node in desired.nodes:
        meet_ip = (
            desired.assignment.addresses[node.name] if by_host else placed[node.name].overlay_ip
        )
        if meet_ip is None:
            raise ConvergenceError(
                f"{node.service}: its task has no address on {stack.network.name}",
                service=node.service,
            )
        published, bus_published = node.published_port, node.bus_published_port
        members.append(
            ClusterMember(
                name=node.name,
                endpoint=endpoint_of(desired, node),
                meet_ip=meet_ip,
                meet_port=published if by_host and published else stack.port,
                bus_port=bus_published
                if by_host and bus_published
                else stack.port + BUS_PORT_OFFSET,
                role="primary" if node.role == "primary" else "replica",
                primary=node.primary,
                slots=(desired.slots[node.name],) if node.name in desired.slots else (),
                server_name=node.alias,
                retiring=node.retiring,
            )
        )
    return members


def validate_members(members: Sequence[ClusterMember]) -> None:
    """Refuse a plan that cannot work: duplicate names, unknown primaries, slot gaps."""
    names = [m.name for m in members]
    primaries = {m.name for m in members if m.role == "primary"}
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate member names: {names}")
    for m in members:
        if m.role == "replica" and m.primary not in primaries:
            raise ValueError(f"{m.name}: primary {m.primary!r} is not a planned primary")
    planned = [s for m in members for r in m.slots for s in range(r[0], r[1] + 1)]
    if sorted(planned) != list(range(CLUSTER_SLOTS)):
        raise ValueError("planned slots must cover 0-16383 exactly once")
