"""Pure parsers for Redis replies: INFO, CLUSTER NODES/INFO/SHARDS, ROLE, SENTINEL MASTER.

No I/O here: the gateway returns raw replies, these functions turn them into frozen
dataclasses. Everything is tested on captured real replies (tests/unit/test_replies.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from swarmredis.constants import CLUSTER_SLOTS

# the slot-range helpers live with the slot planner; parsers and rules import them here too
from swarmredis.plan.slots import SlotRange as SlotRange
from swarmredis.plan.slots import format_ranges as format_ranges
from swarmredis.plan.slots import ranges_of as ranges_of
from swarmredis.plan.slots import slots_of as slots_of


def parse_info(text: str) -> dict[str, str]:
    """INFO text -> flat ``{field: value}`` (section headers and blank lines dropped)."""
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields[key] = value
    return fields


def parse_info_fields(value: str) -> dict[str, str]:
    """A compound INFO value such as ``ip=10.0.0.3,port=7000,state=online`` -> dict."""
    pairs = (item.partition("=") for item in value.split(",") if item)
    return {key: val for key, _, val in pairs}


def info_int(info: Mapping[str, str], key: str, default: int = 0) -> int:
    """An integer INFO field, or ``default`` when absent or not a number."""
    try:
        return int(info[key])
    except (KeyError, ValueError):
        return default


def _parse_slot_token(token: str) -> SlotRange | None:
    if token.startswith("["):  # "[slot->-id]" / "[slot-<-id]": migration in progress
        return None
    start, _, end = token.partition("-")
    return int(start), int(end or start)


@dataclass(frozen=True)
class OpenSlot:
    """A slot a node is moving out (``migrating``, ``[slot->-peer]``) or in
    (``importing``, ``[slot-<-peer]``): CLUSTER NODES shows these on its ``myself`` line
    only, on primaries and on replicas alike (valkey#998)."""

    slot: int
    state: str  # "migrating" | "importing"
    peer_id: str


def _parse_open_slot(token: str) -> OpenSlot | None:
    if not (token.startswith("[") and token.endswith("]")):
        return None
    body = token[1:-1]
    for marker, state in (("->-", "migrating"), ("-<-", "importing")):
        slot, found, peer = body.partition(marker)
        if found:
            return OpenSlot(int(slot), state, peer)
    raise ValueError(f"not a slot marker: {token!r}")


# ---------------------------------------------------------------- CLUSTER NODES


@dataclass(frozen=True)
class ClusterNode:
    """One line of CLUSTER NODES: how the viewing node sees one node of the cluster."""

    node_id: str
    ip: str
    port: int
    bus_port: int
    hostname: str
    flags: frozenset[str]
    primary_id: str | None
    config_epoch: int
    link_state: str
    slots: tuple[SlotRange, ...]
    open_slots: tuple[OpenSlot, ...] = ()

    @property
    def myself(self) -> bool:
        return "myself" in self.flags

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def is_replica(self) -> bool:
        return "slave" in self.flags

    @property
    def failed(self) -> bool:
        """Marked failing (``fail``) or suspected (``fail?``) by the viewer."""
        return "fail" in self.flags or "fail?" in self.flags

    @property
    def unsettled(self) -> bool:
        """Still in handshake, without an address, or failing: needs a (re-)MEET."""
        return self.failed or bool(self.flags & {"handshake", "noaddr"}) or not self.ip

    @property
    def slot_count(self) -> int:
        return sum(end - start + 1 for start, end in self.slots)


def _parse_address(address: str) -> tuple[str, int, int, str]:
    """``ip:port@cport[,hostname[,aux=...]]`` -> (ip, port, bus port, hostname)."""
    main, *extra = address.split(",")
    hostname = extra[0] if extra and "=" not in extra[0] else ""
    hostport, _, bus = main.partition("@")
    ip, _, port = hostport.rpartition(":")
    return ip, int(port or 0), int(bus.split(":")[0] or 0), hostname


def parse_cluster_node_line(line: str) -> ClusterNode:
    """One CLUSTER NODES line -> ClusterNode."""
    parts = line.split()
    if len(parts) < 8:
        raise ValueError(f"not a CLUSTER NODES line: {line!r}")
    # Only the ping and pong times (fields 5 and 6, not kept) differ between two nodes'
    # lines about a third: the rest is parsed once per distinct line. A health check of N
    # nodes reads N x N lines; this keeps it from parsing N x N of them.
    return _parse_fields((*parts[:4], *parts[6:]))


@lru_cache(maxsize=8192)
def _parse_fields(fields: tuple[str, ...]) -> ClusterNode:
    """id, address, flags, primary, config epoch, link state, slot tokens..."""
    ip, port, bus_port, hostname = _parse_address(fields[1])
    slots = tuple(r for r in (_parse_slot_token(t) for t in fields[6:]) if r is not None)
    open_slots = tuple(o for o in (_parse_open_slot(t) for t in fields[6:]) if o is not None)
    return ClusterNode(
        node_id=fields[0],
        ip=ip,
        port=port,
        bus_port=bus_port,
        hostname=hostname,
        flags=frozenset(f for f in fields[2].split(",") if f != "noflags"),
        primary_id=None if fields[3] == "-" else fields[3],
        config_epoch=int(fields[4]),
        link_state=fields[5],
        slots=slots,
        open_slots=open_slots,
    )


def myself(table: Iterable[ClusterNode]) -> ClusterNode | None:
    """The ``myself`` line of a node's CLUSTER NODES table, if it has one."""
    return next((n for n in table if n.myself), None)


def parse_cluster_nodes(text: str) -> tuple[ClusterNode, ...]:
    """CLUSTER NODES text -> one ClusterNode per line."""
    return tuple(parse_cluster_node_line(line) for line in text.splitlines() if line.strip())


# ---------------------------------------------------------------- CLUSTER INFO


@dataclass(frozen=True)
class ClusterInfo:
    """The fields of CLUSTER INFO the engine uses."""

    state: str
    slots_assigned: int
    slots_ok: int
    slots_pfail: int
    slots_fail: int
    known_nodes: int
    size: int
    current_epoch: int
    my_epoch: int

    @property
    def ok(self) -> bool:
        return self.state == "ok" and self.slots_ok == CLUSTER_SLOTS


def parse_cluster_info(text: str) -> ClusterInfo:
    """CLUSTER INFO text -> ClusterInfo."""
    info = parse_info(text)
    return ClusterInfo(
        state=info.get("cluster_state", "unknown"),
        slots_assigned=info_int(info, "cluster_slots_assigned"),
        slots_ok=info_int(info, "cluster_slots_ok"),
        slots_pfail=info_int(info, "cluster_slots_pfail"),
        slots_fail=info_int(info, "cluster_slots_fail"),
        known_nodes=info_int(info, "cluster_known_nodes"),
        size=info_int(info, "cluster_size"),
        current_epoch=info_int(info, "cluster_current_epoch"),
        my_epoch=info_int(info, "cluster_my_epoch"),
    )


# ---------------------------------------------------------------- CLUSTER SHARDS


@dataclass(frozen=True)
class ShardNode:
    """A node as CLUSTER SHARDS describes it."""

    node_id: str
    endpoint: str
    ip: str
    hostname: str
    port: int
    role: str
    replication_offset: int
    health: str


@dataclass(frozen=True)
class Shard:
    """One shard of CLUSTER SHARDS: its slot ranges and nodes."""

    slots: tuple[SlotRange, ...]
    nodes: tuple[ShardNode, ...]


def _as_map(value: Any) -> dict[str, Any]:
    """RESP3 map or RESP2 flat ``[key, value, key, value]`` list -> dict."""
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        items = list(value)
        return {str(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}
    raise ValueError(f"expected a map, got {value!r}")


def _shard_node(raw: Any) -> ShardNode:
    fields = _as_map(raw)
    port = fields.get("tls-port", fields.get("port", 0))
    return ShardNode(
        node_id=str(fields.get("id", "")),
        endpoint=str(fields.get("endpoint", "")),
        ip=str(fields.get("ip", "")),
        hostname=str(fields.get("hostname", "")),
        port=int(port),
        role=str(fields.get("role", "")),
        replication_offset=int(fields.get("replication-offset", 0)),
        health=str(fields.get("health", "")),
    )


def parse_cluster_shards(reply: Sequence[Any]) -> tuple[Shard, ...]:
    """CLUSTER SHARDS reply (RESP2 or RESP3 shape) -> shards."""
    shards = []
    for raw in reply:
        fields = _as_map(raw)
        bounds = [int(v) for v in fields.get("slots", [])]
        slots = tuple(zip(bounds[::2], bounds[1::2], strict=True))
        nodes = tuple(_shard_node(n) for n in fields.get("nodes", []))
        shards.append(Shard(slots=slots, nodes=nodes))
    return tuple(shards)


# ---------------------------------------------------------------- ROLE


@dataclass(frozen=True)
class ReplicaLink:
    """A replica as its primary lists it in ROLE."""

    host: str
    port: int
    offset: int


@dataclass(frozen=True)
class Role:
    """ROLE reply. ``kind`` uses our words: primary, replica or sentinel."""

    kind: Literal["primary", "replica", "sentinel"]
    offset: int = 0
    primary_host: str = ""
    primary_port: int = 0
    link_state: str = ""
    replicas: tuple[ReplicaLink, ...] = ()
    monitored: tuple[str, ...] = ()


def parse_role(reply: Sequence[Any]) -> Role:
    """ROLE reply -> Role (master/slave/sentinel as Redis says it)."""
    kind = str(reply[0]) if reply else ""
    if kind == "master":
        links = tuple(ReplicaLink(str(r[0]), int(r[1]), int(r[2])) for r in reply[2])
        return Role("primary", offset=int(reply[1]), replicas=links)
    if kind == "slave":
        return Role(
            "replica",
            primary_host=str(reply[1]),
            primary_port=int(reply[2]),
            link_state=str(reply[3]),
            offset=int(reply[4]),
        )
    if kind == "sentinel":
        return Role("sentinel", monitored=tuple(str(m) for m in reply[1]))
    raise ValueError(f"unknown ROLE reply: {reply!r}")


# ---------------------------------------------------------------- SENTINEL


def parse_pairs(reply: Any) -> dict[str, str]:
    """A flat ``[key, value, ...]`` reply (SENTINEL MASTER, CONFIG GET) -> dict of str."""
    return {key: str(value) for key, value in _as_map(reply).items()}


def parse_pair_list(reply: Any) -> list[dict[str, str]]:
    """A list of flat pair lists (SENTINEL REPLICAS, SENTINEL SENTINELS) -> dicts; a reply
    that is not a list counts as none."""
    if not isinstance(reply, list):
        return []
    return [parse_pairs(entry) for entry in reply]


_SENTINEL_MASTER_INTS = ("port", "quorum", "num-slaves", "num-other-sentinels")


def parse_sentinel_master(reply: Any) -> dict[str, str]:
    """SENTINEL MASTER -> dict; ``ValueError`` unless it has the fields the rules read
    (name, ip, flags and the numbers), so no rule meets a missing or garbled one."""
    fields = parse_pairs(reply)
    missing = [k for k in ("name", "ip", "flags", *_SENTINEL_MASTER_INTS) if k not in fields]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    for key in _SENTINEL_MASTER_INTS:
        int(fields[key])  # a ValueError names the value
    return fields
