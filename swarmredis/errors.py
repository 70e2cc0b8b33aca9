"""The swarmredis error tree.

Every error the tool raises on purpose derives from ``SwarmRedisError``, knows the
process exit code the CLI should use, and carries the objects a caller needs as fields
(the node, endpoint and command of a Redis failure; the service and host of a failed
task; the stage of a timeout), so no caller parses a message. Errors of the libraries
underneath (aiodocker, redis.asyncio, OSError) are translated into these at the
gateways, never scattered through the code.

    SwarmRedisError                      exit 2
    ├── SpecError                        exit 4: bad stack file (names file + field path)
    ├── PlacementError                   exit 4: anti-affinity impossible, too few hosts
    ├── PKIError                         exit 4: CA / certificate / key store problems
    │   └── StoreFileError               a file of the store is present but unusable
    │                                    (``path``, ``problem``): refused before any change
    ├── DockerError                      anything the Docker engine refused
    │   ├── DockerUnreachable            exit 4: no engine at DOCKER_HOST
    │   ├── NotInSwarm                   exit 4: engine is not part of a Swarm
    │   ├── NotAManager                  exit 4: engine is a worker, not a manager
    │   └── ObjectNotFound               exit 4: a named Swarm object does not exist
    ├── RedisError                       a Redis node refused or failed
    │   ├── RedisAuthError               TLS worked, the user was refused (WRONGPASS, NOPERM)
    │   ├── RedisReplyError              it answered, but not as Redis does: bytes that are
    │   │                                not RESP, or a reply the parsers cannot read
    │   └── RedisUnreachable             no TCP connection to a node
    │       └── RedisTLSError            TCP connected, the TLS handshake failed
    │           └── RedisHandshakeClosed the peer closed it mid-handshake: a refused
    │                                    client certificate, or a killed connection
    ├── ConvergenceError                 a task failed / was rejected on a host
    ├── DeployTimeout                    a wait ran out (converge, bootstrap, rm)
    ├── LockHeld                         another operation holds the stack's lock
    ├── TopologyChangeRefused            a live stack's shard or replica count changed
    ├── RotationStopped                  `certs rotate` stopped in a phase (``phase``):
    │                                    running it again resumes from there
    ├── DowntimeRefused                  a restart would take a primary's data offline
    │                                    (no linked replica): refused before any change
    ├── ImageError                       exit 4: a new image that a host cannot run, that
    │                                    lacks redis-server/redis-cli, or is an older major
    ├── PreflightFailed                  a host failed a preflight check (``checks``):
    │                                    deploy refused before any change
    └── HealthError                      deploy finished but the stack is down
        └── DegradedError                exit 1: serving, but not as planned
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

# The exit codes of every command (docs/operations.md, "Exit codes").
EXIT_OK = 0  # done, healthy, nothing to do
EXIT_DEGRADED = 1  # done but degraded; status: degraded; certs: due soon
EXIT_FAILED = 2  # the operation failed; status: down; certs: expired or missing
EXIT_CHANGES = 3  # plan, certs due: there are changes to make
EXIT_USAGE = 4  # the tool could not run: bad flag, bad stack file, no engine, no such stack

Stage = Literal["tcp", "tls", "auth", "command"]


class SwarmRedisError(Exception):
    """Base of every error swarmredis raises on purpose."""

    exit_code: ClassVar[int] = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: kind, message, hint, exit code and the error's context."""
        out: dict[str, Any] = {
            "error": type(self).__name__,
            "message": self.message,
            "exit_code": self.exit_code,
        }
        if self.hint:
            out["hint"] = self.hint
        out.update({k: v for k, v in self.context().items() if v not in (None, (), "")})
        return out

    def context(self) -> dict[str, Any]:
        """The structured fields of this error (empty for a plain one)."""
        return {}


class SpecError(SwarmRedisError):
    """The stack file is invalid; the message names the file and field path."""

    exit_code = EXIT_USAGE


class PlacementError(SwarmRedisError):
    """The nodes cannot be placed as the stack file asks."""

    exit_code = EXIT_USAGE


class PKIError(SwarmRedisError):
    """CA, certificate or key store problem."""

    exit_code = EXIT_USAGE


class StoreFileError(PKIError):
    """A file of the certificate store is present but bad: unparsable, expired, signed by
    another CA, not matching its key, a malformed password. ``path`` is the file as the
    user should see it, ``problem`` the kind (``pki/validate.py`` lists them)."""

    def __init__(self, message: str, *, hint: str | None = None, path: str, problem: str):
        super().__init__(message, hint=hint)
        self.path = path
        self.problem = problem

    def context(self) -> dict[str, Any]:
        return {"path": self.path, "problem": self.problem}


class DockerError(SwarmRedisError):
    """The Docker engine refused or failed a request; ``status`` is its HTTP status."""

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None):
        super().__init__(message, hint=hint)
        self.status = status

    def context(self) -> dict[str, Any]:
        return {"status": self.status}


class DockerUnreachable(DockerError):
    """No Docker engine answers at the configured address."""

    exit_code = EXIT_USAGE


class NotInSwarm(DockerError):
    """The engine is not part of a Swarm."""

    exit_code = EXIT_USAGE


class NotAManager(DockerError):
    """The engine is a Swarm worker; swarmredis needs a manager."""

    exit_code = EXIT_USAGE


class ObjectNotFound(DockerError):
    """A Swarm object that should exist does not."""

    exit_code = EXIT_USAGE


class RedisError(SwarmRedisError):
    """A Redis node refused or failed a command.

    ``node`` and ``endpoint`` say which node, ``command`` which command (None while
    connecting), ``code`` the first word of Redis's error reply (``NOGOODSLAVE``,
    ``ERR``...), and ``stage`` how far the exchange got.
    """

    stage: ClassVar[Stage] = "command"  # how far the exchange got

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        node: str | None = None,
        endpoint: str | None = None,
        command: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.node = node
        self.endpoint = endpoint
        self.command = command
        self.code = code

    def context(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "endpoint": self.endpoint,
            "command": self.command,
            "code": self.code,
            "stage": self.stage,
        }


class RedisReplyError(RedisError):
    """The node answered, but not as Redis does: bytes that are not RESP (another service
    on that port?), or a reply of the wrong type or shape for its command."""


class RedisUnreachable(RedisError):
    """No TCP/TLS connection could be made to a Redis node."""

    stage: ClassVar[Stage] = "tcp"


class RedisAuthError(RedisError):
    """TLS worked but the server refused our user (WRONGPASS, NOAUTH, NOPERM)."""

    stage: ClassVar[Stage] = "auth"


class RedisTLSError(RedisUnreachable):
    """TCP connected but the TLS handshake failed (unknown CA, bad or missing certificate)."""

    stage: ClassVar[Stage] = "tls"


class RedisHandshakeClosed(RedisTLSError):
    """The peer closed the connection during the TLS handshake, without a TLS alert.

    A server refusing our client certificate (TLS 1.3) looks like this, and so does a
    connection that was killed meanwhile (Sentinel's ``CLIENT KILL`` when it reconfigures
    a node). Ambiguous, so connecting retries it a few times before giving up.
    """


class ConvergenceError(SwarmRedisError):
    """A task of a service failed or was rejected: which service, on which host, why."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        service: str | None = None,
        host: str | None = None,
        task_error: str | None = None,
        logs: Sequence[str] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.service = service
        self.host = host
        self.task_error = task_error
        self.logs = tuple(logs)

    def context(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "host": self.host,
            "task_error": self.task_error,
            "logs": list(self.logs),
        }


class DeployTimeout(SwarmRedisError):
    """A wait ran out: ``stage`` names the wait (``converge``, ``bootstrap``, ``failover``,
    ``job``, ``rm``, or what a bootstrap poll waited for), ``pending`` what was still unmet."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        stage: str | None = None,
        pending: Sequence[str] = (),
    ) -> None:
        super().__init__(message, hint=hint)
        self.stage = stage
        self.pending = tuple(pending)

    def context(self) -> dict[str, Any]:
        return {"stage": self.stage, "pending": list(self.pending)}


class LockHeld(SwarmRedisError):
    """Another operation holds the stack's lock (``engine/swarm/lock.py``): who, doing
    what, since when."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        stack: str,
        holder: str,
        operation: str,
        since: str,
    ) -> None:
        super().__init__(message, hint=hint)
        self.stack, self.holder, self.operation, self.since = stack, holder, operation, since

    def context(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "holder": self.holder,
            "operation": self.operation,
            "since": self.since,
        }


class TopologyChangeRefused(SwarmRedisError):
    """The stack file changes which node is which on a live stack (a shard or replica
    count changed): refused before anything is written."""


class RotationStopped(SwarmRedisError):
    """A ``certs rotate`` stopped before its end; ``phase`` is where the next run resumes."""

    def __init__(self, message: str, *, hint: str | None = None, phase: str) -> None:
        super().__init__(message, hint=hint)
        self.phase = phase

    def context(self) -> dict[str, Any]:
        return {"phase": self.phase}


class DowntimeRefused(SwarmRedisError):
    """A rolling update would restart primaries (``nodes``) that no linked replica can
    stand in for; refused before anything changes, unless ``--allow-downtime``."""

    def __init__(self, message: str, *, hint: str | None = None, nodes: Sequence[str]) -> None:
        super().__init__(message, hint=hint)
        self.nodes = tuple(nodes)

    def context(self) -> dict[str, Any]:
        return {"nodes": list(self.nodes)}


class ImageError(SwarmRedisError):
    """An image change refused before the first restart (``flows/upgrade.py``)."""

    exit_code = EXIT_USAGE


class PreflightFailed(SwarmRedisError):
    """A host failed a preflight check (``checks``: the failed ones, as dicts); deploy
    refuses before anything changes, unless ``--skip-preflight``."""

    def __init__(
        self, message: str, *, hint: str | None = None, checks: Sequence[dict[str, str]]
    ) -> None:
        super().__init__(message, hint=hint)
        self.checks = tuple(checks)

    def context(self) -> dict[str, Any]:
        return {"checks": list(self.checks)}


class HealthError(SwarmRedisError):
    """The deployment is not healthy; ``report`` is the health report that says why."""

    def __init__(self, message: str, *, hint: str | None = None, report: Any = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report

    def context(self) -> dict[str, Any]:
        return {"status": self.report.status.value} if self.report is not None else {}


class DegradedError(HealthError):
    """The stack serves, but not as planned (a replica down, a failover, lag)."""

    exit_code = EXIT_DEGRADED
