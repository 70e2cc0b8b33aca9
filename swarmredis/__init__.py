"""swarmredis: deploy and operate secure, multi-host Redis on Docker Swarm.

The public Python API, for scripts that drive swarmredis without its CLI::

    import anyio, swarmredis

    async def main() -> None:
        stack = swarmredis.load_stack("stacks/cluster.yaml")
        options = swarmredis.DeployOptions(certs_dir=Path("certs"))
        async with swarmredis.DockerGateway.connect() as gateway:
            result = await swarmredis.deploy(gateway, stack, options, report=print)

Everything else (``swarmredis.engine``, ``swarmredis.plan``, ...) is internal and may
change between releases. The names below load on first use (PEP 562), so that importing
a pure module such as ``swarmredis.plan.placement`` loads no I/O library.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from swarmredis.errors import (
    ConvergenceError,
    DegradedError,
    DeployTimeout,
    DockerError,
    DockerUnreachable,
    DowntimeRefused,
    HealthError,
    ImageError,
    LockHeld,
    NotAManager,
    NotInSwarm,
    ObjectNotFound,
    PKIError,
    PlacementError,
    PreflightFailed,
    RedisAuthError,
    RedisError,
    RedisHandshakeClosed,
    RedisReplyError,
    RedisTLSError,
    RedisUnreachable,
    RotationStopped,
    SpecError,
    StoreFileError,
    SwarmRedisError,
    TopologyChangeRefused,
)

if TYPE_CHECKING:
    from swarmredis.engine.events import Event, Reporter
    from swarmredis.engine.flows.deploy import DeployResult, deploy
    from swarmredis.engine.flows.plan import DeployOptions, plan_stack
    from swarmredis.engine.flows.remove import RemoveResult, remove_stack
    from swarmredis.engine.flows.status import status
    from swarmredis.engine.redis.verdict import HealthReport, Problem, ProblemKind, Status
    from swarmredis.gateway.docker import DockerGateway
    from swarmredis.pki.store import CertStore
    from swarmredis.plan.diff import Plan
    from swarmredis.stackfile import Stack, load_stack, parse_stack

__version__ = "0.1.0"

_LAZY = {
    "CertStore": "swarmredis.pki.store",
    "DeployOptions": "swarmredis.engine.flows.plan",
    "DeployResult": "swarmredis.engine.flows.deploy",
    "DockerGateway": "swarmredis.gateway.docker",
    "Event": "swarmredis.engine.events",
    "HealthReport": "swarmredis.engine.redis.verdict",
    "Plan": "swarmredis.plan.diff",
    "Problem": "swarmredis.engine.redis.verdict",
    "ProblemKind": "swarmredis.engine.redis.verdict",
    "RemoveResult": "swarmredis.engine.flows.remove",
    "Reporter": "swarmredis.engine.events",
    "Stack": "swarmredis.stackfile",
    "Status": "swarmredis.engine.redis.verdict",
    "deploy": "swarmredis.engine.flows.deploy",
    "load_stack": "swarmredis.stackfile",
    "parse_stack": "swarmredis.stackfile",
    "plan_stack": "swarmredis.engine.flows.plan",
    "remove_stack": "swarmredis.engine.flows.remove",
    "status": "swarmredis.engine.flows.status",
}


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'swarmredis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CertStore",
    "ConvergenceError",
    "DegradedError",
    "DeployOptions",
    "DeployResult",
    "DeployTimeout",
    "DockerError",
    "DockerGateway",
    "DockerUnreachable",
    "DowntimeRefused",
    "Event",
    "HealthError",
    "HealthReport",
    "ImageError",
    "LockHeld",
    "NotAManager",
    "NotInSwarm",
    "ObjectNotFound",
    "PKIError",
    "PlacementError",
    "Plan",
    "PreflightFailed",
    "Problem",
    "ProblemKind",
    "RedisAuthError",
    "RedisError",
    "RedisHandshakeClosed",
    "RedisReplyError",
    "RedisTLSError",
    "RedisUnreachable",
    "RemoveResult",
    "Reporter",
    "RotationStopped",
    "SpecError",
    "Stack",
    "Status",
    "StoreFileError",
    "SwarmRedisError",
    "TopologyChangeRefused",
    "__version__",
    "deploy",
    "load_stack",
    "parse_stack",
    "plan_stack",
    "remove_stack",
    "status",
]
