"""The validated, frozen stack model.

Shape and types are declared with pydantic; rules that tie fields together
(mode-dependent defaults and limits, port ranges) live in the two validators
of ``Stack``. They raise ``PydanticCustomError("spec", ...)`` carrying the
field path, so ``spec.load`` reports them like any other field error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from swarmredis.stackfile import rules
from swarmredis.stackfile.defaults import apply_mode_defaults, cross_check, each, spec_problem
from swarmredis.stackfile.units import format_size, parse_duration, parse_size

Mode = Literal["cluster", "replication", "standalone"]
NetworkMode = Literal["overlay", "host"]
MIN_MEMORY = 32 * 1024**2
# Docker keeps MemoryBytes in an int64 and no host has 64 TiB of RAM yet.
MAX_MEMORY = 64 * 1024**4
# Durations end up as int64 nanoseconds (update delay) or milliseconds (Sentinel):
# finite, and a day is already more than any of them needs.
MAX_SECONDS = 86400.0


def _number(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {rules.shown(value)}")
    return value


def _yaml_no(value: object) -> object:
    # YAML 1.1 reads an unquoted `no` as False and `yes` as True.
    if value is False:
        return "no"
    if value is True:
        return "required"
    return value


def _directive_value(value: object) -> object:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    return value


Number = Annotated[float, BeforeValidator(_number)]
Size = Annotated[int, BeforeValidator(parse_size)]
Seconds = Annotated[
    float, BeforeValidator(parse_duration), Field(allow_inf_nan=False, le=MAX_SECONDS)
]
Pattern = str
Port = Annotated[StrictInt, Field(ge=1, le=65535)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Network(_Frozen):
    """The network every node of the stack joins: its own overlay, or the hosts' own stack.

    With ``mode: host`` every node joins Swarm's predefined ``host`` network (``name`` is
    then ``host``) and listens on its host port; ``defaults.host_network`` refuses the
    overlay's own fields there. ``attachable`` lets standalone containers (``docker run
    --network``) join the overlay; off by default, so only the stack's services are on it.
    """

    mode: NetworkMode = "overlay"
    name: str
    encrypted: StrictBool = False
    subnet: str | None = None
    attachable: StrictBool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return rules.check_network_name(value)

    @field_validator("subnet")
    @classmethod
    def _subnet(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.IPv4Network(value, strict=True))
        except ValueError as error:
            raise ValueError(
                f"must be an IPv4 CIDR like 10.20.0.0/24, got {rules.shown(value)}"
            ) from error


class Placement(_Frozen):
    """Where nodes may run (Swarm constraints) and their anti-affinity domain."""

    constraints: tuple[str, ...] = ()
    spread: str = "node.id"

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return each(value, lambda c: rules.parse_constraint(c).render())

    @field_validator("spread")
    @classmethod
    def _spread(cls, value: str) -> str:
        return rules.check_spread(value)

    def parsed_constraints(self) -> tuple[rules.Constraint, ...]:
        """The constraints as parsed ``Constraint`` objects."""
        return tuple(rules.parse_constraint(c) for c in self.constraints)


class Resources(_Frozen):
    """Container limits; ``maxmemory`` is ``memory * maxmemory_ratio``."""

    memory: Size = 512 * 1024**2
    cpus: Annotated[Number, Field(gt=0, le=256)] | None = 1.0
    maxmemory_ratio: Annotated[Number, Field(gt=0, le=1)] = 0.75

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: int) -> int:
        if value < MIN_MEMORY:
            raise ValueError(f"must be >= {format_size(MIN_MEMORY)}, got {format_size(value)}")
        if value > MAX_MEMORY:
            raise ValueError(f"must be <= {format_size(MAX_MEMORY)}, got {format_size(value)}")
        return value

    @property
    def maxmemory(self) -> int:
        """Bytes Redis may use for data."""
        return int(self.memory * self.maxmemory_ratio)


class Persistence(_Frozen):
    """RDB snapshots and the append-only file."""

    appendonly: StrictBool = True
    appendfsync: Literal["always", "everysec", "no"] = "everysec"
    save: str = "3600 1 300 100 60 10000"

    @field_validator("appendfsync", mode="before")
    @classmethod
    def _fsync_no(cls, value: object) -> object:
        return "no" if value is False else value

    @field_validator("save")
    @classmethod
    def _save(cls, value: str) -> str:
        return rules.check_save(value)


class TLS(_Frozen):
    """TLS on every port (client, replication, cluster bus, sentinel)."""

    enabled: StrictBool = True
    auth_clients: Annotated[Literal["required", "optional", "no"], BeforeValidator(_yaml_no)] = (
        "required"
    )

    @field_validator("enabled")
    @classmethod
    def _enabled(cls, value: bool) -> bool:
        return rules.check_tls_enabled(value)


class User(_Frozen):
    """An application ACL user; its password is generated by ``swarmredis certs``."""

    name: str
    keys: tuple[Pattern, ...] = ()
    channels: tuple[Pattern, ...] = ()
    commands: Annotated[tuple[str, ...], Field(min_length=1)]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return rules.check_user_name(value)

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return each(value, lambda p: rules.check_pattern(p, prefix="~"))

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return each(value, lambda p: rules.check_pattern(p, prefix="&"))

    @field_validator("commands")
    @classmethod
    def _commands(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return each(value, rules.check_command_rule)


class ACL(_Frozen):
    """Application users, in addition to the built-in ones."""

    users: tuple[User, ...] = ()

    @field_validator("users")
    @classmethod
    def _unique(cls, value: tuple[User, ...]) -> tuple[User, ...]:
        seen: set[str] = set()
        for user in value:
            if user.name in seen:
                raise ValueError(f"user {user.name!r} is defined twice")
            seen.add(user.name)
        return value


class Access(_Frozen):
    """How the engine and clients outside the overlay reach each node."""

    publish: Literal["host", "none"] = "host"
    base_port: Annotated[StrictInt, Field(ge=1024, le=65535)] = 7000


class Sentinel(_Frozen):
    """Redis Sentinel for replication mode."""

    count: Annotated[StrictInt, Field(ge=1, le=9)] = 3
    quorum: Annotated[StrictInt, Field(ge=1)]
    port: Port = 26379
    down_after: Annotated[Seconds, Field(gt=0)] = 5.0
    failover_timeout: Annotated[Seconds, Field(gt=0)] = 60.0

    @model_validator(mode="before")
    @classmethod
    def _default_quorum(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "quorum" not in data:
            count = data.get("count", 3)
            if isinstance(count, int) and not isinstance(count, bool):
                return {**data, "quorum": count // 2 + 1}
        return data

    @model_validator(mode="after")
    def _quorum_le_count(self) -> Sentinel:
        if self.quorum > self.count:
            raise spec_problem("quorum", f"must be <= count ({self.count}), got {self.quorum}")
        return self


class Metrics(_Frozen):
    """The stack's own metrics exporter: one small Swarm service on a manager that serves
    ``/metrics`` on ``port`` of that host (``swarmredis exporter``, run from ``image``)."""

    enabled: StrictBool = False
    port: Port = 9650
    image: str | None = None  # has Python and swarmredis: ``python3 -m swarmredis`` runs
    scrape_timeout: Annotated[Seconds, Field(ge=1, le=60)] = 5.0

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None) -> str | None:
        return None if value is None else rules.check_image(value)

    @model_validator(mode="after")
    def _image_when_enabled(self) -> Metrics:
        if self.enabled and self.image is None:
            raise spec_problem(
                "image",
                "is required when metrics.enabled is true: an image in which `python3 -m"
                " swarmredis` runs (docs/monitoring.md shows how to build one)",
            )
        return self


class Update(_Frozen):
    """Rolling update settings of every service."""

    parallelism: Annotated[StrictInt, Field(ge=1)] = 1
    delay: Annotated[Seconds, Field(ge=0)] = 5.0


class Stack(_Frozen):
    """A validated stack file."""

    name: str
    mode: Mode = "cluster"
    image: str = "redis:7.0"
    shards: Annotated[StrictInt, Field(ge=1, le=100)]
    replicas: Annotated[StrictInt, Field(ge=0, le=5)]
    port: Port = 6379
    network: Network
    placement: Placement = Placement()
    resources: Resources = Resources()
    persistence: Persistence = Persistence()
    tls: TLS = TLS()
    acl: ACL = ACL()
    access: Access = Access()
    announce: Literal["hostname", "host"] = "hostname"
    sentinel: Sentinel = Field(default_factory=lambda: Sentinel(quorum=2))
    config: Mapping[str, Annotated[str, BeforeValidator(_directive_value)]] = Field(
        default_factory=dict
    )
    update: Update = Update()
    metrics: Metrics = Metrics()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return rules.check_stack_name(value)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        return rules.check_image(value)

    @field_validator("config")
    @classmethod
    def _config(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        out = {}
        for key, item in value.items():
            try:
                out[key] = rules.check_directive(key, item)
            except ValueError as error:
                raise spec_problem((key,), str(error)) from None
        return dict(sorted(out.items()))

    @model_validator(mode="before")
    @classmethod
    def _mode_defaults(cls, data: Any) -> Any:
        return apply_mode_defaults(data)

    @model_validator(mode="after")
    def _cross_checks(self) -> Stack:
        problem = cross_check(self)
        if problem is not None:
            raise spec_problem(*problem)
        return self

    @property
    def host_network(self) -> bool:
        """Whether nodes run on their hosts' network stack (``network.mode: host``)."""
        return self.network.mode == "host"

    @property
    def redis_count(self) -> int:
        """Number of Redis nodes (primaries and replicas)."""
        if self.mode == "cluster":
            return self.shards * (1 + self.replicas)
        return 1 + self.replicas

    @property
    def sentinel_count(self) -> int:
        """Number of sentinels (replication mode only)."""
        return self.sentinel.count if self.mode == "replication" else 0
