"""Host ports: which ports each node holds on its host, and clashes with other stacks (pure).

A node holds host ports when it publishes them (``access.publish: host``) or listens on
its host's network stack itself (``network.mode: host``, TLS port and cluster bus). The
ports of one stack are distinct by construction (``base_port + i - 1``, bus ``+ 10000``,
at most 609 nodes), so two of its nodes never share one, wherever they are placed; the
check below still covers it. Swarm's scheduler keeps a task off a host where a
*published* port is taken, but it knows nothing of ports a host-network process binds:
a host-network node and any other node holding its port on the same host would fail at
start (``Address already in use``). So the planner refuses that before anything is
written, for every pair where at least one side is on the host network. Overlay against
overlay is left to the scheduler, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swarmredis import labels
from swarmredis.constants import BUS_PORT_OFFSET
from swarmredis.errors import PlacementError
from swarmredis.plan.observe import pinned_node_id
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.topology import Layout, LogicalNode, topology


@dataclass(frozen=True)
class HeldPort:
    """A port a node holds on its host, and whether it binds it on the host network."""

    holder: str  # "<stack>/<node>"
    host_network: bool


def held_ports(node: LogicalNode) -> tuple[int, ...]:
    """The host ports ``node`` holds: its published or listening port, and its bus port."""
    return tuple(p for p in (node.published_port, node.bus_published_port) if p is not None)


def ports_taken(
    services: Sequence[Mapping[str, Any]], stack: str
) -> dict[str, dict[int, HeldPort]]:
    """Swarm node id -> host port -> holder, for the pinned services of *other* stacks.

    Published host-mode ports come from the EndpointSpec; host-network nodes carry
    ``io.swarmredis.host-port`` (and, in cluster mode, a shard label: their bus is that
    port + 10000).
    """
    out: dict[str, dict[int, HeldPort]] = {}
    for service in services:
        spec = service.get("Spec") or {}
        found = spec.get("Labels") or {}
        owner = found.get(labels.STACK)
        where = pinned_node_id(spec)
        if owner is None or owner == stack or where is None:
            continue
        holder = HeldPort(f"{owner}/{found.get(labels.NODE, spec.get('Name', '?'))}", False)
        ports = [
            int(p["PublishedPort"])
            for p in (spec.get("EndpointSpec") or {}).get("Ports") or ()
            if p.get("PublishMode") == "host" and p.get("PublishedPort")
        ]
        listening = str(found.get(labels.HOST_PORT, ""))
        if listening.isdigit():
            holder = HeldPort(holder.holder, True)
            ports.append(int(listening))
            if found.get(labels.SHARD):
                ports.append(int(listening) + BUS_PORT_OFFSET)
        for port in ports:
            out.setdefault(where, {})[port] = holder
    return out


def check_host_ports(
    stack: Stack,
    placed: Mapping[str, str],
    taken: Mapping[str, Mapping[int, HeldPort]],
    layout: Layout | None = None,
) -> None:
    """Refuse a placement (logical node -> Swarm node id) whose host ports clash.

    Clashes within the stack always count; with another stack's node only when one of
    the two is on the host network. Raises ``PlacementError`` naming every clash.
    """
    mine: dict[str, dict[int, str]] = {}
    clashes: list[str] = []
    for node in topology(stack, layout):
        host = placed[node.name]
        for port in held_ports(node):
            other = mine.setdefault(host, {}).get(port)
            if other is not None:
                clashes.append(f"{node.name} and {other} both hold port {port}")
            mine[host][port] = node.name
            held = taken.get(host, {}).get(port)
            if held is not None and (stack.host_network or held.host_network):
                clashes.append(f"{node.name} needs port {port}, held by {held.holder}")
    if clashes:
        raise PlacementError(
            f"host ports of stack {stack.name} clash on their hosts: " + "; ".join(clashes),
            hint="choose an access.base_port whose range (and bus range + 10000) no other"
            " stack uses on these hosts",
        )
