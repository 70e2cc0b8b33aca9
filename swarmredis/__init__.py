"""swarmredis: deploy and operate secure, multi-host Redis on Docker Swarm."""

from swarmredis.errors import (
    ConvergenceError,
    DegradedError,
    DeployTimeout,
    DockerError,
    DockerUnreachable,
    HealthError,
    NotAManager,
    NotInSwarm,
    ObjectNotFound,
    PKIError,
    PlacementError,
    RedisAuthError,
    RedisError,
    RedisHandshakeClosed,
    RedisTLSError,
    RedisUnreachable,
    SpecError,
    SwarmRedisError,
)

__version__ = "0.1.0"

__all__ = [
    "ConvergenceError",
    "DegradedError",
    "DeployTimeout",
    "DockerError",
    "DockerUnreachable",
    "HealthError",
    "NotAManager",
    "NotInSwarm",
    "ObjectNotFound",
    "PKIError",
    "PlacementError",
    "RedisAuthError",
    "RedisError",
    "RedisHandshakeClosed",
    "RedisTLSError",
    "RedisUnreachable",
    "SpecError",
    "SwarmRedisError",
    "__version__",
]
