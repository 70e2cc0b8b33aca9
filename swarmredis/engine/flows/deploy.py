"""``deploy``: plan -> certificates -> image check -> live settings -> apply (guarded) ->
converge -> bootstrap -> roles -> retire -> health.

The orchestration only; each step lives in its own module (docs/architecture.md), and
every Redis step goes through the stack's Mode (``engine.modes``). File I/O and key
generation of the PKI run in worker threads, never on the loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import anyio

from swarmredis.engine.context import RunContext, admin_access
from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.engine.flows.exporter import ExporterResult, apply_exporter
from swarmredis.engine.flows.live import apply_live, converge_live
from swarmredis.engine.flows.plan import DeployOptions, check_certs, plan_stack
from swarmredis.engine.flows.preflight import check_hosts, creates_services
from swarmredis.engine.flows.rolling import rolling_guard
from swarmredis.engine.flows.status import stack_status
from swarmredis.engine.flows.upgrade import changes_image, check_image
from swarmredis.engine.modes.base import Action, BootstrapReport, Mode
from swarmredis.engine.modes.registry import mode_for
from swarmredis.engine.polling import Backoff
from swarmredis.engine.redis.verdict import HealthReport, Status, failover_only
from swarmredis.engine.swarm.apply import ApplyResult, apply_plan, remove_retired
from swarmredis.engine.swarm.converge import current_placement
from swarmredis.engine.swarm.lock import stack_lock
from swarmredis.engine.swarm.records import record_volumes
from swarmredis.errors import DegradedError, DeployTimeout, HealthError, SpecError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.pki.store import CertStore
from swarmredis.plan.diff import Plan
from swarmredis.plan.jobs import volumes_of
from swarmredis.plan.tasks import Placed
from swarmredis.stackfile import Stack

HEALTH_GRACE = 60.0  # seconds a fresh deployment gets to settle into "healthy"


@dataclass
class DeployResult:
    """What one deploy did, for the CLI to print or serialise."""

    plan: Plan
    apply: ApplyResult
    bootstrap: BootstrapReport
    issued: list[str] = field(default_factory=list)
    health: HealthReport | None = None
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds
    docker_calls: dict[str, int] = field(default_factory=dict)  # HTTP method -> requests
    lock_calls: dict[str, int] = field(default_factory=dict)  # the stack lock's requests
    adopted: list[dict[str, Any]] = field(default_factory=list)  # data no service owned
    live: list[str] = field(default_factory=list)  # nodes whose live settings were set
    metrics: ExporterResult | None = None  # what the metrics step did, where it serves

    @property
    def writes(self) -> dict[str, int]:
        """Changes sent: Docker requests other than GET, Redis commands that change a node."""
        docker = sum(n for method, n in self.docker_calls.items() if method != "GET")
        return {"docker": docker, "redis": len(self.bootstrap.actions)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "stack": self.plan.desired.stack.name,
            "changes": self.plan.changes,
            "created": self.apply.created,
            "updated": self.apply.updated,
            "live": self.live,
            "removed": self.apply.removed,
            "issued": self.issued,
            "bootstrap": self.bootstrap.to_dict(),
            "health": self.health.to_dict() if self.health else None,
            "timings": {step: round(s, 3) for step, s in self.timings.items()},
            "docker_calls": dict(sorted(self.docker_calls.items())),
            "lock_calls": dict(sorted(self.lock_calls.items())),
            "adopted": self.adopted,
            "metrics": asdict(self.metrics) if self.metrics else None,
            "writes": self.writes,
        }


async def deploy(
    gateway: DockerGateway,
    stack: Stack,
    options: DeployOptions,
    *,
    report: Reporter = silent,
) -> DeployResult:
    """Take the Swarm from any state to ``stack`` deployed, bootstrapped and answering."""
    await check_deployable(gateway, stack, options)
    # before the first change, the CA included: one operation on a stack at a time
    async with stack_lock(
        gateway, stack.name, "deploy", wait=options.lock_timeout, report=report
    ) as lock:
        result = await deploy_held(gateway, stack, options, report)
        # the lock's own requests are bookkeeping, not changes to the stack
        result.docker_calls = dict(Counter(result.docker_calls) - lock.calls)
        result.lock_calls = dict(lock.calls)
        return result


async def check_deployable(gateway: DockerGateway, stack: Stack, options: DeployOptions) -> None:
    """What a deploy refuses before it takes the lock: a stack the engine cannot reach, a
    bad certificate store, an engine that is not a Swarm manager."""
    if stack.access.publish != "host":
        raise SpecError(
            f"access.publish: {stack.access.publish} leaves the engine no way to reach the nodes",
            hint="set access.publish: host (each node publishes its TLS port on its host)",
        )
    await check_certs(CertStore(options.certs_dir, stack.name))
    await gateway.require_manager()


async def deploy_held(
    gateway: DockerGateway, stack: Stack, options: DeployOptions, report: Reporter
) -> DeployResult:
    """The deploy itself; the caller holds the stack's lock (``deploy``, ``certs rotate``)."""
    store = CertStore(options.certs_dir, stack.name)
    report(Event("plan", stack.name, "start", "reading the Swarm"))
    plan, issued = await plan_stack(gateway, stack, store, options, issue=True)
    for warning in plan.desired.warnings:
        report(Event("plan", stack.name, "info", f"warning: {warning}"))
    changes = {"changes": plan.changes}
    report(Event("plan", stack.name, "done", f"{plan.changes} change(s)", changes))
    access = await anyio.to_thread.run_sync(lambda: admin_access(store, options.node_timeout))
    run = RunContext.create(access, concurrency=options.concurrency, report=report)
    mode = mode_for(stack.mode)
    if options.preflight and creates_services(plan):  # new services: the hosts fit them
        await check_hosts(gateway, plan, run, options.timeout)
    if changes_image(plan):  # before the first restart: every host can run it
        await check_image(gateway, plan, run, options.timeout)
    # before any restart: a node that restarts too reads them from its volume
    live = await apply_live(gateway, plan, run, options.timeout)
    with run.timed("apply"):
        guard = await rolling_guard(gateway, plan, mode, run, allow_downtime=options.allow_downtime)
        applied = await apply_plan(
            gateway, plan, report=report, limiter=run.limiter, deadline=options.timeout, guard=guard
        )
        # what rm --volumes must empty, kept where `docker stack rm` leaves it
        volumes = volumes_of([{"Spec": s.spec} for s in plan.desired.services])
        if volumes is not None:
            # a retiring node's index is never given again, however this run ends
            retired = tuple(n.index for n in plan.desired.retiring)
            await record_volumes(gateway, stack.name, replace(volumes, retired=retired))
    run.placement = lambda: current_placement(gateway, applied.placed, applied.network_id)
    report(Event("bootstrap", stack.name, "start", stack.mode))
    with run.timed("bootstrap"), anyio.move_on_after(options.timeout) as scope:
        boot = await mode.bootstrap(run, plan.desired, applied.placed)
        # what the rolling update handed over always goes back; what failovers moved,
        # unless --keep-roles
        touched = guard.touched if guard else set()
        if options.restore_roles or touched:
            scope_of = None if options.restore_roles else touched
            boot = await _restore_roles(mode, run, plan, applied.placed, boot, scope_of)
    if scope.cancelled_caught:
        raise DeployTimeout(
            f"{stack.name}: bootstrap did not finish within --timeout {options.timeout:g}s",
            hint="the services run; see `swarmredis status`, then re-run deploy (it resumes)",
            stage="bootstrap",
        )
    # a node whose volume kept an older live file (an rm that kept the volumes), or that
    # someone changed by hand, gets the planned live settings again
    live += await converge_live(gateway, plan, run, options.timeout)
    if plan.retiring:
        boot.actions += await _retire(gateway, mode, run, plan, applied, options.timeout)
    for line in boot.lines():
        report(Event("bootstrap", stack.name, "info", line))
    report(Event("bootstrap", stack.name, "done", stack.mode))
    exported = None
    if plan.metrics:  # the metrics service: enabled, or made by an earlier deploy
        with run.timed("metrics"):
            port = stack.metrics.port
            exported = await apply_exporter(gateway, plan.metrics, port, report, options.timeout)
    with run.timed("health"):
        health = await wait_healthy(gateway, stack.name, run, options.timeout)
    result = DeployResult(plan, applied, boot, issued, health, run.timings, dict(gateway.calls))
    result.live = live
    result.metrics = exported
    result.adopted = adopted_data(plan, boot, health)
    if result.adopted:
        held = ", ".join(
            f"{a['node']} (id {str(a['node_id'] or '-')[:8]}, {a['keys']} keys)"
            for a in result.adopted
        )
        report(
            Event(
                "deploy",
                stack.name,
                "skip",
                f"warning: the new services took over data that no service of stack "
                f"{stack.name} owned: {held}. If it is not yours to keep: "
                f"`swarmredis rm {stack.name} --volumes`, then deploy again",
            )
        )
    return result


async def _retire(
    gateway: DockerGateway,
    mode: Mode,
    run: RunContext,
    plan: Plan,
    applied: ApplyResult,
    within: float,
) -> list[Action]:
    """The nodes a lower count retires: drained and forgotten by the mode, which removes
    their services (and their own configs and certificates) when its order says."""
    stack = plan.desired.stack.name
    names = ", ".join(n.name for n in plan.desired.retiring)
    run.report(Event("retire", stack, "start", names))

    async def remove() -> None:
        removed = await remove_retired(gateway, plan, report=run.report, limiter=run.limiter)
        applied.removed += removed

    with run.timed("retire"), anyio.move_on_after(within) as scope:
        actions = await mode.retire(run, plan.desired, applied.placed, remove)
    if scope.cancelled_caught:
        raise DeployTimeout(
            f"{stack}: retiring {names} did not finish within --timeout {within:g}s",
            hint="see `swarmredis status`, then re-run deploy (it resumes)",
            stage="retire",
        )
    run.report(Event("retire", stack, "done", f"{names}: drained, forgotten, removed"))
    return actions


def adopted_data(
    plan: Plan, boot: BootstrapReport, health: HealthReport | None
) -> list[dict[str, Any]]:
    """Nodes whose data came from volumes no service of the stack owned: every service
    was created by this deploy, and yet a node held keys, or the nodes already formed a
    cluster (after ``docker stack rm``, or a ``rm`` that kept the volumes)."""
    services = [c for c in plan.items if c.kind == "service"]
    if not services or any(c.action != "create" for c in services) or health is None:
        return []
    nodes = [n for n in health.nodes if n.planned_role != "sentinel"]
    held = nodes if boot.fresh is False else [n for n in nodes if n.keys]
    return [{"node": n.name, "node_id": n.node_id, "keys": n.keys or 0} for n in held]


async def _restore_roles(
    mode: Mode,
    run: RunContext,
    plan: Plan,
    placed: Mapping[str, Placed],
    boot: BootstrapReport,
    touched: set[str] | None,
) -> BootstrapReport:
    """After a failover, hand each cluster shard (or the replication primary role) back to
    its planned primary (coordinated, no write lost), then wait until every node agrees
    again. The plan, not chance, decides which host carries a primary: that keeps
    primaries spread over the hosts. ``touched``: only those nodes' shards (None: all)."""
    restored = await mode.restore_roles(run, plan.desired, placed, touched)
    if not restored:
        return boot
    settled = await mode.bootstrap(run, plan.desired, placed)
    return BootstrapReport(
        boot.mode, actions=[*boot.actions, *restored, *settled.actions], notes=settled.notes
    )


async def wait_healthy(
    gateway: DockerGateway, stack: str, run: RunContext, within: float
) -> HealthReport:
    """Poll the stack's health until it is healthy (or only failed over: serving as
    designed); degraded or down at the deadline raises, carrying the report."""
    latest: HealthReport | None = None
    backoff = Backoff()
    with anyio.move_on_after(min(within, HEALTH_GRACE)):
        while True:
            checked = anyio.current_time()
            latest = await stack_status(gateway, stack, run)
            if latest.status is Status.HEALTHY or failover_only(latest):
                break
            await anyio.sleep(backoff.delay(took=anyio.current_time() - checked))
    if latest is None:
        raise HealthError(f"{stack}: no health check finished within {HEALTH_GRACE:.0f}s")
    problems = "; ".join(f"{p.node + ': ' if p.node else ''}{p.message}" for p in latest.problems)
    hint = f"see `swarmredis status {stack}`"
    if latest.status is Status.DOWN:
        run.report(Event("health", stack, "fail", problems))
        raise HealthError(f"{stack} is down after deploy: {problems}", hint=hint, report=latest)
    if failover_only(latest):
        # Roles swapped by a failover, every shard still replicated: serving as designed.
        # status keeps reporting it (degraded) so monitoring sees that a failover happened.
        run.report(Event("health", stack, "done", f"healthy after a failover: {problems}"))
        return latest
    if latest.status is Status.DEGRADED:
        run.report(Event("health", stack, "fail", problems))
        message = f"{stack} is serving but degraded: {problems}"
        raise DegradedError(message, hint=hint, report=latest)
    message = f"healthy: {len(latest.nodes)} nodes answer as planned"
    run.report(Event("health", stack, "done", message))
    return latest
