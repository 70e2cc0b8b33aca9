"""The swarmredis error tree.

Every error the tool raises on purpose derives from ``SwarmRedisError`` and
knows the process exit code the CLI should use. Errors of the libraries
underneath (aiodocker, redis.asyncio, OSError) are translated into these at
the gateways, never scattered through the code.

    SwarmRedisError                      exit 2
    ├── SpecError                        bad stack file (names file + field path)
    ├── PlacementError                   anti-affinity impossible, too few hosts
    ├── PKIError                         CA / certificate / key store problems
    ├── DockerError                      anything the Docker engine refused
    │   ├── DockerUnreachable            no engine at DOCKER_HOST
    │   ├── NotInSwarm                   engine is not part of a Swarm
    │   ├── NotAManager                  engine is a worker, not a manager
    │   └── ObjectNotFound               a named Swarm object does not exist
    ├── RedisError                       a Redis node refused or failed
    │   ├── RedisAuthError               TLS worked, the user was refused (WRONGPASS, NOPERM)
    │   └── RedisUnreachable             no TCP connection to a node
    │       └── RedisTLSError            TCP connected, the TLS handshake failed
    │           └── RedisHandshakeClosed the peer closed it mid-handshake: a refused
    │                                    client certificate, or a killed connection
    ├── ConvergenceError                 a task failed / was rejected on a host
    ├── DeployTimeout                    the Swarm did not converge in time
    └── HealthError                      deploy finished but the stack is down
        └── DegradedError                exit 1: serving, but not as planned
"""

from __future__ import annotations


class SwarmRedisError(Exception):
    """Base of every error swarmredis raises on purpose."""

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class SpecError(SwarmRedisError):
    """The stack file is invalid; the message names the file and field path."""


class PlacementError(SwarmRedisError):
    """The nodes cannot be placed as the stack file asks."""


class PKIError(SwarmRedisError):
    """CA, certificate or key store problem."""


class DockerError(SwarmRedisError):
    """The Docker engine refused or failed a request."""


class DockerUnreachable(DockerError):
    """No Docker engine answers at the configured address."""


class NotInSwarm(DockerError):
    """The engine is not part of a Swarm."""


class NotAManager(DockerError):
    """The engine is a Swarm worker; swarmredis needs a manager."""


class ObjectNotFound(DockerError):
    """A Swarm object that should exist does not."""


class RedisError(SwarmRedisError):
    """A Redis node refused or failed a command."""


class RedisUnreachable(RedisError):
    """No TCP/TLS connection could be made to a Redis node."""


class RedisAuthError(RedisError):
    """TLS worked but the server refused our user (WRONGPASS, NOAUTH, NOPERM)."""


class RedisTLSError(RedisUnreachable):
    """TCP connected but the TLS handshake failed (unknown CA, bad or missing certificate)."""


class RedisHandshakeClosed(RedisTLSError):
    """The peer closed the connection during the TLS handshake, without a TLS alert.

    A server refusing our client certificate (TLS 1.3) looks like this, and so does a
    connection that was killed meanwhile (Sentinel's ``CLIENT KILL`` when it reconfigures
    a node). Ambiguous, so connecting retries it a few times before giving up.
    """


class ConvergenceError(SwarmRedisError):
    """A task of a service failed or was rejected; carries the host and task error."""


class DeployTimeout(SwarmRedisError):
    """The Swarm did not converge before the deadline."""


class HealthError(SwarmRedisError):
    """The deployment is not healthy."""


class DegradedError(HealthError):
    """The stack serves, but not as planned (a replica down, a failover, lag)."""

    exit_code = 1
