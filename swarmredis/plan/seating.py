"""A live stack's layout, read from its services: who sits where, on which port (pure).

A stack's nodes keep their identities for life (``stackfile/identity.py``): the seats are
read from the Redis services' labels (``io.swarmredis.node``, ``.planned-role``,
``.shard``), not derived from the counts in the stack file. Two cases:

- the live seats are some or all of the seats a fresh stack with the file's counts has
  (the stack as deployed, or a run killed while it created services, or replicas added
  to a replication stack: its new replicas take the next indices either way): the
  layout is the fresh one;
- otherwise the counts changed under a live stack: ``scaled_seats`` keeps every live
  seat and adds or retires seats. A retiring seat stays in the layout, flagged, until
  ``deploy`` has drained and forgotten it and removed its service (``Mode.retire``).

A new seat never takes an index the stack retired before (the volume record keeps them:
that volume still holds the old node's ``nodes.conf``), so such a stack is laid out
through ``scaled_seats`` too.

Port positions: a live node keeps the position its published port (or host port, on the
host network) gives it, counted from node-1's port so that a changed
``access.base_port`` still moves every node; a node without one takes the lowest free
position, Redis nodes by index first, then the sentinels. A fresh stack's positions come
out as its indices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from swarmredis import labels
from swarmredis.constants import BUS_PORT_OFFSET, SWARM_TCP_PORTS
from swarmredis.errors import PlacementError, TopologyChangeRefused
from swarmredis.plan.observe import ObservedObject
from swarmredis.stackfile.defaults import MAX_PORT
from swarmredis.stackfile.identity import IdentityError, Scaling, Seat, scaled_seats
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.topology import Layout, fresh_layout, sentinel_names

_ROLES = ("primary", "replica", "standalone")


@dataclass(frozen=True)
class Seating:
    """The layout to plan, and what a change of counts does to the live seats."""

    layout: Layout
    live: tuple[Seat, ...]
    scaling: Scaling | None  # None: the fresh layout (all of it live, or some to create)


def seating(
    stack: Stack, objects: Sequence[ObservedObject], retired: Iterable[int] = ()
) -> Seating:
    """How ``stack`` is laid out on the Swarm now, and what its counts make of that.

    ``retired``: the indices the stack retired before (the volume record keeps them): a
    new seat never takes one, since that node's volume still holds its old identity."""
    services = [o for o in objects if o.kind == "service" and o.logical]
    live = live_seats(stack, services)
    gone = frozenset(retired)
    fresh = fresh_layout(stack)
    planned = {(s.index, s.role, s.shard) for s in fresh.seats}
    reuses = any(s.index in gone for s in fresh.seats if s not in live)
    retiring: tuple[Seat, ...] = ()
    if all((s.index, s.role, s.shard) in planned for s in live) and not reuses:
        seats, scaling = fresh.seats, None
    else:
        try:
            used = max(gone, default=0)
            scaling = scaled_seats(stack.mode, stack.shards, stack.replicas, live, used=used)
        except IdentityError as error:
            raise TopologyChangeRefused(
                f"stack {stack.name}: its services' labels are not one stack's: {error}",
                hint="nothing was changed; inspect the services' io.swarmredis labels",
            ) from error
        seats, retiring = scaling.seats, scaling.retire
    everyone = tuple(sorted(seats + retiring))
    names = [s.name for s in everyone] + list(sentinel_names(stack))
    positions = _positions(stack, names, live_ports(services))
    layout = Layout(everyone, positions, frozenset(s.name for s in retiring))
    _check_ports(stack, layout)
    return Seating(layout, live, scaling)


def live_seats(stack: Stack, services: Sequence[ObservedObject]) -> tuple[Seat, ...]:
    """The seats the stack's Redis services carry in their labels."""
    seats = []
    for service in services:
        if service.labels.get(labels.ROLE) != "redis":
            continue
        name = service.logical or ""
        role = service.labels.get(labels.PLANNED_ROLE, "")
        shard = service.labels.get(labels.SHARD)
        index = name.removeprefix("node-")
        if not (name.startswith("node-") and index.isdigit()) or role not in _ROLES:
            raise TopologyChangeRefused(
                f"stack {stack.name}: service {service.name} is labelled node {name!r} with"
                f" planned role {role!r}, which no stack's node has",
                hint="nothing was changed; remove or relabel that service",
            )
        if shard is not None and not shard.isdigit():
            raise TopologyChangeRefused(
                f"stack {stack.name}: service {service.name} has shard label {shard!r}",
                hint="nothing was changed; the shard label is a shard number",
            )
        seats.append(Seat(int(index), role, int(shard) if shard else None))  # type: ignore[arg-type]
    return tuple(sorted(seats))


def live_ports(services: Sequence[ObservedObject]) -> dict[str, int]:
    """Logical node -> the port it is reached at on its host, where it has one."""
    out: dict[str, int] = {}
    for service in services:
        listening = str(service.labels.get(labels.HOST_PORT, ""))
        published = [
            int(p["PublishedPort"])
            for p in (service.spec.get("EndpointSpec") or {}).get("Ports") or ()
            if p.get("PublishMode") == "host" and p.get("PublishedPort")
        ]
        if listening.isdigit():
            out[str(service.logical)] = int(listening)
        elif published:
            out[str(service.logical)] = min(published)  # the bus port is 10000 above
    return out


def _positions(stack: Stack, names: Sequence[str], ports: Mapping[str, int]) -> dict[str, int]:
    base = ports.get("node-1", stack.access.base_port)
    positions = {n: ports[n] - base + 1 for n in names if n in ports and ports[n] >= base}
    taken = set(positions.values())
    free = 1
    for name in names:
        if name in positions:
            continue
        while free in taken:
            free += 1
        positions[name] = free
        taken.add(free)
    return positions


def _check_ports(stack: Stack, layout: Layout) -> None:
    """Refuse positions past the port range or onto the Swarm engine's own ports (a
    fresh stack's are checked with the stack file; a live one's may have gaps)."""
    if stack.access.publish != "host":
        return
    bus = BUS_PORT_OFFSET if stack.mode == "cluster" and stack.announce == "host" else 0
    bad = []
    for name, position in sorted(layout.positions.items(), key=lambda item: item[1]):
        port = stack.access.base_port + position - 1
        if port + (bus if name.startswith("node-") else 0) > MAX_PORT:
            bad.append(f"{name} would publish port {port}, past {MAX_PORT - bus}")
        elif port in SWARM_TCP_PORTS:
            bad.append(f"{name} would publish port {port} ({SWARM_TCP_PORTS[port]})")
    if bad:
        raise PlacementError(
            f"stack {stack.name}: " + "; ".join(bad),
            hint="choose an access.base_port lower in the range, or one whose range avoids"
            " the Swarm engine's ports",
        )
