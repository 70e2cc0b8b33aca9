"""Standalone mode: one Redis node, no replicas, nothing to hand over.

Every step of the Mode protocol is here: the bootstrap checks that the node answers as a
primary; before a restart and after failovers there is nothing to move, and no count
changes, so nothing retires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import anyio

from swarmredis.engine.context import RunContext
from swarmredis.engine.modes.base import (
    Action,
    BootstrapReport,
    Handover,
    Member,
    Removal,
    member_of,
)
from swarmredis.engine.redis.nodes import bounded, connect_all
from swarmredis.engine.redis.replies import parse_role
from swarmredis.engine.redis.verdict import (
    NodeHealth,
    Probe,
    Problem,
    ProblemKind,
    Status,
    Verdict,
)
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import RedisAccess
from swarmredis.plan.state import DesiredState
from swarmredis.plan.tasks import Placed


async def bootstrap_standalone(
    node: Member,
    access: RedisAccess,
    *,
    ready_timeout: float = 60.0,
    limiter: anyio.CapacityLimiter | None = None,
) -> BootstrapReport:
    """Check that a standalone node answers PING and is a primary."""
    limiter = bounded(limiter)
    async with connect_all([node], access, limiter=limiter, ready_timeout=ready_timeout) as nodes:
        await nodes[node.name].ping()
        role = await nodes[node.name].read(parse_role, "ROLE")
    if role.kind != "primary":
        raise RedisError(
            f"{node.name} at {node.endpoint}: is a {role.kind}, expected a primary",
            node=node.name,
            endpoint=str(node.endpoint),
        )
    return BootstrapReport("standalone", notes=[f"{node.name} answers as primary"])


def judge_standalone(probes: Sequence[Probe], lines: dict[str, NodeHealth]) -> Verdict:
    """The one node answers, as a primary (pure)."""
    problems = []
    for p in probes:
        if not p.reachable:
            message = "the only node is unreachable"
            problems.append(Problem(Status.DOWN, ProblemKind.UNREACHABLE, p.target.name, message))
        elif p.role != "primary":
            message = f"is a {p.role}, not a primary"
            problems.append(Problem(Status.DOWN, ProblemKind.ROLE, p.target.name, message))
    return None, problems


class StandaloneMode:
    """The Mode protocol for ``mode: standalone``."""

    name = "standalone"
    hands_over = False
    reads_cluster = False
    settings: tuple[str, ...] = ()

    def claims(self, planned_roles: set[str], sharded: bool) -> bool:
        return "standalone" in planned_roles

    def members(self, desired: DesiredState, placed: Mapping[str, Placed]) -> list[Member]:
        return [member_of(desired, n) for n in desired.nodes if n.kind == "redis"]

    async def bootstrap(
        self, run: RunContext, desired: DesiredState, placed: Mapping[str, Placed]
    ) -> BootstrapReport:
        node = self.members(desired, placed)[0]
        return await bootstrap_standalone(node, run.access, limiter=run.limiter)

    def judge(self, probes: Sequence[Probe], lines: dict[str, NodeHealth]) -> Verdict:
        return judge_standalone(probes, lines)

    async def before_restart(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        restarting: Sequence[str],
    ) -> list[Handover]:
        return []  # no replica to take over: the node restarts, clients reconnect

    async def restore_roles(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        touched: set[str] | None,
    ) -> list[Action]:
        return []  # no failover can have moved anything

    async def retire(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        remove: Removal,
    ) -> list[Action]:
        await remove()  # one node, never fewer: nothing retires, nothing to drain
        return []
