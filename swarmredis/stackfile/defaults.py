"""Rules of the stack model that tie fields together.

``apply_mode_defaults`` fills the defaults that depend on other fields (mode,
name) before validation; ``cross_check`` checks limits that depend on several
fields after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic_core import PydanticCustomError

from swarmredis.constants import BUS_PORT_OFFSET, SWARM_TCP_PORTS
from swarmredis.stackfile.rules import STACK_NAME, shown

if TYPE_CHECKING:
    from swarmredis.stackfile.model import Stack

MODES = ("cluster", "replication", "standalone")
MIN_SHARDS = 3
MAX_PORT = 65535

# Fields that only make sense in some modes; setting them elsewhere is an error.
_ONLY_FOR = {"shards": ("cluster",), "sentinel": ("replication",)}


def spec_problem(path: str | tuple[str | int, ...], message: str) -> PydanticCustomError:
    """A validation error for ``path`` raised from a model validator.

    ``path`` is dotted (``sentinel.quorum``) or, for a part that may itself hold dots or
    digits (a ``config`` directive name), a tuple of parts.
    """
    loc = tuple(path.split(".")) if isinstance(path, str) else path
    dotted = ".".join(str(part) for part in loc)
    return PydanticCustomError(
        "spec", "{path}: {detail}", {"path": dotted, "detail": message, "loc": loc}
    )


def apply_mode_defaults(data: Any) -> Any:
    """Fill mode-dependent defaults (shards, replicas, network name) into raw stack data."""
    if not isinstance(data, Mapping):
        return data
    mode = data.get("mode", "cluster")
    if mode not in MODES:
        mode = "cluster"  # the field validator reports the bad mode; fill the rest anyway
    else:
        _check_mode_fields(data, mode)
    out = dict(data)
    if mode == "standalone" and out.get("replicas", 0) != 0:
        raise spec_problem(
            "replicas", f"must be 0 for mode standalone, got {shown(out['replicas'])}"
        )
    out.setdefault("shards", MIN_SHARDS if mode == "cluster" else 1)
    out.setdefault("replicas", 0 if mode == "standalone" else 1)
    # Without a usable name the name field reports the error; fill a stand-in so the
    # network does not also report itself missing.
    name = out.get("name")
    if not isinstance(name, str) or not STACK_NAME.fullmatch(name):
        name = "stack"
    network = out.get("network", {})
    if isinstance(network, Mapping) and network.get("mode") == "host":
        return host_network(out, network)
    if isinstance(network, Mapping) and "name" not in network:
        out["network"] = {**network, "name": f"{name}_net"}
    return out


# Fields that mean nothing on the hosts' own network stack: the values allowed, and why.
_NOT_ON_HOST: dict[str, tuple[tuple[object, ...], str]] = {
    "name": ((None, "host"), "every node joins Swarm's predefined host network"),
    "encrypted": ((None, False), "there is no overlay to encrypt (traffic is TLS anyway)"),
    "subnet": ((None,), "nodes use their hosts' addresses"),
    "attachable": ((None, False), "there is no overlay for containers to attach to"),
}
_HOST_PORTS = "node i listens on access.base_port + i - 1 on its host"


def host_network(data: dict[str, Any], network: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults and refusals of ``network.mode: host`` (raw data, before validation).

    The overlay's fields are refused unless left at their defaults, so is ``port`` (each
    node has its own host port), ``access.publish: none`` (the nodes sit on their host
    ports whatever it says) and ``announce: hostname`` (no overlay DNS resolves aliases);
    ``announce`` defaults to ``host``. ``network.name`` becomes ``host``, the network the
    services attach to.
    """
    for key, (allowed, why) in _NOT_ON_HOST.items():
        if network.get(key) not in allowed:
            raise spec_problem(f"network.{key}", f"not allowed with network.mode host: {why}")
    if "port" in data:
        raise spec_problem("port", f"not allowed with network.mode host: {_HOST_PORTS}")
    sentinel = data.get("sentinel")
    if isinstance(sentinel, Mapping) and "port" in sentinel:
        raise spec_problem(
            "sentinel.port",
            f"not allowed with network.mode host: {_HOST_PORTS} (sentinels follow the Redis nodes)",
        )
    access = data.get("access")
    if isinstance(access, Mapping) and access.get("publish", "host") != "host":
        raise spec_problem(
            "access.publish",
            f"must be host with network.mode host ({_HOST_PORTS}), got {shown(access['publish'])}",
        )
    if data.get("announce", "host") != "host":
        raise spec_problem(
            "announce",
            "must be host with network.mode host (no overlay DNS resolves aliases there),"
            f" got {shown(data['announce'])}",
        )
    return {**data, "network": {**network, "name": "host"}, "announce": "host"}


def _check_mode_fields(data: Mapping[str, Any], mode: str) -> None:
    for key, modes in _ONLY_FOR.items():
        if key in data and mode not in modes:
            raise spec_problem(key, f"only allowed for mode {' or '.join(modes)}, not {mode}")


def each(values: tuple[str, ...], check: Callable[[str], str]) -> tuple[str, ...]:
    """Apply ``check`` to every item; a failure names the item's index in the field path."""
    out = []
    for index, value in enumerate(values):
        try:
            out.append(check(value))
        except ValueError as error:
            raise spec_problem((index,), str(error)) from None
    return tuple(out)


def cross_check(stack: Stack) -> tuple[str, str] | None:
    """The first rule spanning several fields that ``stack`` breaks, as (path, message)."""
    for check in (_counts, _ports, _access, _metrics):
        problem = check(stack)
        if problem is not None:
            return problem
    return None


def _counts(stack: Stack) -> tuple[str, str] | None:
    if stack.mode == "cluster" and stack.shards < MIN_SHARDS:
        return "shards", f"must be >= {MIN_SHARDS} for mode cluster, got {stack.shards}"
    if stack.mode == "replication" and stack.replicas < 1:
        return "replicas", f"must be >= 1 for mode replication, got {stack.replicas}"
    return None


def _ports(stack: Stack) -> tuple[str, str] | None:
    if stack.mode == "cluster" and stack.port + BUS_PORT_OFFSET > MAX_PORT:
        return (
            "port",
            f"must be <= {MAX_PORT - BUS_PORT_OFFSET} for mode cluster "
            f"(the bus port is port + {BUS_PORT_OFFSET}), got {stack.port}",
        )
    return None


def _swarm_port_clash(stack: Stack, last: int) -> str | None:
    """Why the published ports base_port..last hit a port the Swarm engine holds, if they do."""
    base = stack.access.base_port
    ports = [f"{p} ({what})" for p, what in sorted(SWARM_TCP_PORTS.items()) if base <= p <= last]
    if not ports:
        return None
    return (
        f"the nodes publish ports {base}..{last}, which include {', '.join(ports)} that the "
        "engine of every Swarm host listens on: choose a base_port whose range avoids it"
    )


def _access(stack: Stack) -> tuple[str, str] | None:
    if stack.announce == "host" and stack.access.publish != "host":
        return "announce", "host needs access.publish: host (nodes announce their published ports)"
    if stack.access.publish != "host":
        return None
    total = stack.redis_count + stack.sentinel_count
    last = stack.access.base_port + total - 1
    if last > MAX_PORT:
        return (
            "access.base_port",
            f"the {total} nodes publish ports {stack.access.base_port}..{last}, "
            f"which must be <= {MAX_PORT}",
        )
    if clash := _swarm_port_clash(stack, last):
        return "access.base_port", clash
    if stack.mode == "cluster" and stack.announce == "host":
        bus_last = stack.access.base_port + BUS_PORT_OFFSET + stack.redis_count - 1
        if bus_last > MAX_PORT:
            return (
                "access.base_port",
                f"the cluster bus ports would reach {bus_last} (base_port + {BUS_PORT_OFFSET} + "
                f"node index - 1), which must be <= {MAX_PORT}",
            )
    return None


def _metrics(stack: Stack) -> tuple[str, str] | None:
    """The exporter's port on its manager: never a node's published port or the engine's."""
    metrics = stack.metrics
    if not metrics.enabled:
        return None
    if metrics.port in SWARM_TCP_PORTS:
        what = SWARM_TCP_PORTS[metrics.port]
        return "metrics.port", f"{metrics.port} is the port of {what} on every Swarm host"
    first = stack.access.base_port
    last = first + stack.redis_count + stack.sentinel_count - 1
    if stack.access.publish == "host" and first <= metrics.port <= last:
        return (
            "metrics.port",
            f"{metrics.port} is among the nodes' published ports {first}..{last}: choose another",
        )
    return None
