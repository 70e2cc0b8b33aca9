"""``render`` and ``secrets push``: the stack for ``docker stack deploy`` (plan/compose.py).

``render`` plans the stack as ``deploy`` would (issuing missing certificates into the local
store, as ``deploy`` does) and returns the compose document; it writes nothing to the
Swarm. ``secrets push`` creates what the compose file declares ``external``: the
network, the secrets and the configs, exactly as ``deploy`` would create them, under the
stack's lock, and nothing else (no service, no removal).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from swarmredis.engine.events import Reporter, silent
from swarmredis.engine.flows.deploy import check_deployable
from swarmredis.engine.flows.plan import DeployOptions, plan_stack
from swarmredis.engine.swarm.apply import apply_plan
from swarmredis.engine.swarm.lock import stack_lock
from swarmredis.gateway.docker import DockerGateway
from swarmredis.pki.store import CertStore
from swarmredis.plan.compose import Rendered, render_compose
from swarmredis.plan.diff import Change, Plan
from swarmredis.stackfile import Stack


@dataclass
class PushResult:
    """What ``secrets push`` created, and what was there already."""

    created: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)


async def render(
    gateway: DockerGateway, stack: Stack, options: DeployOptions
) -> tuple[Rendered, list[str]]:
    """The compose form of ``stack``'s plan, and the certificates issued for it."""
    await check_deployable(gateway, stack, options)
    store = CertStore(options.certs_dir, stack.name)
    plan, issued = await plan_stack(gateway, stack, store, options, issue=True)
    return render_compose(plan), issued


def external_objects(plan: Plan) -> Plan:
    """The plan cut down to what a rendered compose file declares ``external``: the
    network (to create, or as it is) and the secrets and configs to create."""

    def kept(change: Change) -> bool:
        if change.kind == "network":
            return True
        return change.kind in ("secret", "config") and change.action in ("create", "noop")

    return replace(plan, items=tuple(c for c in plan.items if kept(c)))


async def push(
    gateway: DockerGateway, stack: Stack, options: DeployOptions, *, report: Reporter = silent
) -> PushResult:
    """Create the stack's network, secrets and configs that do not exist yet."""
    await check_deployable(gateway, stack, options)
    async with stack_lock(gateway, stack.name, "secrets push", wait=options.lock_timeout):
        store = CertStore(options.certs_dir, stack.name)
        plan, issued = await plan_stack(gateway, stack, store, options, issue=True)
        objects = external_objects(plan)
        applied = await apply_plan(gateway, objects, report=report, deadline=options.timeout)
    result = PushResult(created=applied.created, issued=issued)
    result.present = [c.name for c in objects.items if c.name not in applied.created]
    return result
