"""``deploy``: observe -> plan -> certificates -> apply -> converge -> bootstrap -> health.

The orchestration only; each step lives in its own module (docs/architecture.md).
File I/O and key generation of the PKI run in worker threads, never on the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from swarmredis.engine.apply import ApplyResult, apply_plan
from swarmredis.engine.bootstrap import (
    BootstrapReport,
)
from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.engine.health import HealthReport, Status
from swarmredis.engine.members import bootstrap_stack
from swarmredis.engine.rolling import StackGuard, restore_roles
from swarmredis.engine.status import stack_status
from swarmredis.errors import DegradedError, DeployTimeout, HealthError, PKIError, SpecError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.gateway.redis import Credentials, RedisAccess, TLSClientFiles
from swarmredis.pki.manage import ensure_certs
from swarmredis.pki.material import build_material, load_admin_credentials, stack_pki
from swarmredis.pki.store import CertStore
from swarmredis.plan.diff import Plan, diff
from swarmredis.plan.observe import (
    KINDS,
    ObservedObject,
    SwarmNode,
    observed_object,
    previous_assignment,
    swarm_node,
)
from swarmredis.plan.placement import place
from swarmredis.plan.state import desired_state
from swarmredis.stackfile import Stack

HEALTH_GRACE = 60.0  # seconds a fresh deployment gets to settle into "healthy"


@dataclass(frozen=True)
class DeployOptions:
    """Knobs of one deploy run."""

    certs_dir: Path
    concurrency: int = 16
    timeout: float = 300.0
    prune: bool = False
    allow_colocation: bool = False
    node_timeout: float = 5.0
    restore_roles: bool = True


@dataclass
class DeployResult:
    """What one deploy did, for the CLI to print or serialise."""

    plan: Plan
    apply: ApplyResult
    bootstrap: BootstrapReport
    issued: list[str] = field(default_factory=list)
    health: HealthReport | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "stack": self.plan.desired.stack.name,
            "changes": self.plan.changes,
            "created": self.apply.created,
            "updated": self.apply.updated,
            "removed": self.apply.removed,
            "issued": self.issued,
            "bootstrap": self.bootstrap.to_dict(),
            "health": self.health.to_dict() if self.health else None,
        }


async def observe(
    gateway: DockerGateway, stack: str
) -> tuple[list[SwarmNode], tuple[ObservedObject, ...]]:
    """Swarm nodes and the stack's objects, read concurrently."""
    raw: dict[str, list[dict[str, Any]]] = {}

    async def fetch(kind: str) -> None:
        if kind == "node":
            raw[kind] = await gateway.nodes()
        else:
            raw[kind] = await gateway.list(kind, stack)  # type: ignore[arg-type]

    async with anyio.create_task_group() as tg:
        for kind in ("node", *KINDS):
            tg.start_soon(fetch, kind)
    nodes = [swarm_node(n) for n in raw["node"]]
    objects = tuple(observed_object(k, o) for k in KINDS for o in raw[k])
    return nodes, objects


async def plan_stack(
    gateway: DockerGateway,
    stack: Stack,
    store: CertStore,
    options: DeployOptions,
    *,
    issue: bool,
) -> tuple[Plan, list[str]]:
    """Read the Swarm and plan ``stack``; with ``issue``, create missing certificates first."""
    nodes, objects = await observe(gateway, stack.name)
    previous = previous_assignment(objects)
    # Placement first: it fails before anything is written, and with `announce: host`
    # the chosen hosts' addresses belong in the certificates.
    assignment = place(stack, nodes, previous, options.allow_colocation)
    hosts = (
        {name: (addr,) for name, addr in assignment.addresses.items()}
        if stack.announce == "host"
        else None
    )
    spec = stack_pki(stack, hosts)
    issued: list[str] = []
    if issue:
        report = await anyio.to_thread.run_sync(
            lambda: ensure_certs(store, spec, now=datetime.now(UTC))
        )
        issued = [f"{leaf.kind} {leaf.name}" for leaf in report.issued]
    material = await anyio.to_thread.run_sync(lambda: _material_or_empty(store, spec, issue))
    desired = desired_state(stack, nodes, material, previous, options.allow_colocation)
    return diff(desired, objects, options.prune), issued


def _material_or_empty(store: CertStore, spec: Any, required: bool) -> dict[str, bytes]:
    try:
        return build_material(store, spec)
    except PKIError:
        if required:
            raise
        return {}


async def deploy(
    gateway: DockerGateway,
    stack: Stack,
    options: DeployOptions,
    *,
    report: Reporter = silent,
) -> DeployResult:
    """Take the Swarm from any state to ``stack`` deployed, bootstrapped and answering."""
    if stack.access.publish != "host":
        raise SpecError(
            f"access.publish: {stack.access.publish} leaves the engine no way to reach the nodes",
            hint="set access.publish: host (each node publishes its TLS port on its host)",
        )
    await gateway.require_manager()
    store = CertStore(options.certs_dir, stack.name)
    report(Event("plan", stack.name, "start", "reading the Swarm"))
    plan, issued = await plan_stack(gateway, stack, store, options, issue=True)
    for warning in plan.desired.warnings:
        report(Event("plan", stack.name, "info", f"warning: {warning}"))
    report(Event("plan", stack.name, "done", f"{plan.changes} change(s)"))
    access = await anyio.to_thread.run_sync(lambda: admin_access(store, options.node_timeout))
    guard = await rolling_guard(gateway, plan, access, options, report)
    applied = await apply_plan(
        gateway,
        plan,
        report=report,
        concurrency=options.concurrency,
        deadline=options.timeout,
        guard=guard,
    )
    report(Event("bootstrap", stack.name, "start", stack.mode))
    with anyio.move_on_after(options.timeout) as scope:
        boot = await bootstrap_stack(plan.desired, applied.placed, access, options.concurrency)
        # what the rolling update handed over always goes back; what failovers moved,
        # unless --keep-roles
        touched = guard.touched if guard else set()
        if options.restore_roles or touched:
            boot = await _restore_roles(
                plan,
                applied,
                access,
                options,
                report,
                boot,
                None if options.restore_roles else touched,
            )
    if scope.cancelled_caught:
        raise DeployTimeout(
            f"{stack.name}: bootstrap did not finish within --timeout {options.timeout:g}s",
            hint="the services run; see `swarmredis status`, then re-run deploy (it resumes)",
        )
    for line in boot.lines():
        report(Event("bootstrap", stack.name, "info", line))
    report(Event("bootstrap", stack.name, "done", stack.mode))
    health = await prove_healthy(gateway, stack.name, access, options, report)
    return DeployResult(plan=plan, apply=applied, bootstrap=boot, issued=issued, health=health)


async def _restore_roles(
    plan: Plan,
    applied: ApplyResult,
    access: RedisAccess,
    options: DeployOptions,
    report: Reporter,
    boot: BootstrapReport,
    touched: set[str] | None,
) -> BootstrapReport:
    """After a failover, hand each cluster shard (or the replication primary role) back to
    its planned primary (coordinated, no write lost), then wait until every node agrees
    again. The plan, not chance, decides which host carries a primary: that keeps
    primaries spread over the hosts. ``touched``: only those nodes' shards (None: all)."""
    restored = await restore_roles(
        plan.desired,
        applied.placed,
        access,
        report,
        concurrency=options.concurrency,
        touched=touched,
    )
    if not restored:
        return boot
    settled = await bootstrap_stack(plan.desired, applied.placed, access, options.concurrency)
    return BootstrapReport(
        boot.mode, actions=[*boot.actions, *restored, *settled.actions], notes=settled.notes
    )


async def prove_healthy(
    gateway: DockerGateway,
    stack: str,
    access: RedisAccess,
    options: DeployOptions,
    report: Reporter,
) -> HealthReport:
    """Poll the stack's health until it is healthy; degraded or down at the deadline raises."""
    latest: HealthReport | None = None
    delay = 0.5
    with anyio.move_on_after(min(options.timeout, HEALTH_GRACE)):
        while True:
            latest = await stack_status(
                gateway,
                stack,
                access,
                node_timeout=options.node_timeout,
                concurrency=options.concurrency,
            )
            if latest.status is Status.HEALTHY or _failover_only(latest):
                break
            await anyio.sleep(delay)
            delay = min(delay * 1.5, 3.0)
    if latest is None:
        raise HealthError(f"{stack}: no health check finished within {HEALTH_GRACE:.0f}s")
    problems = "; ".join(f"{p.node + ': ' if p.node else ''}{p.message}" for p in latest.problems)
    if latest.status is Status.DOWN:
        report(Event("health", stack, "fail", problems))
        raise HealthError(
            f"{stack} is down after deploy: {problems}", hint=f"see `swarmredis status {stack}`"
        )
    if _failover_only(latest):
        # Roles swapped by a failover, every shard still replicated: serving as designed.
        # status keeps reporting it (degraded) so monitoring sees that a failover happened.
        report(Event("health", stack, "done", f"healthy after a failover: {problems}"))
        return latest
    if latest.status is Status.DEGRADED:
        report(Event("health", stack, "fail", problems))
        raise DegradedError(
            f"{stack} is serving but degraded: {problems}", hint=f"see `swarmredis status {stack}`"
        )
    report(Event("health", stack, "done", f"healthy: {len(latest.nodes)} nodes answer as planned"))
    return latest


async def rolling_guard(
    gateway: DockerGateway,
    plan: Plan,
    access: RedisAccess,
    options: DeployOptions,
    report: Reporter,
) -> StackGuard | None:
    """A guard for the rolling update when a healthy stack will have services restarted."""
    stack = plan.desired.stack
    if not any(c.kind == "service" and c.action == "update" for c in plan.items):
        return None
    current = await stack_status(
        gateway,
        stack.name,
        access,
        node_timeout=options.node_timeout,
        concurrency=options.concurrency,
    )
    if not (current.status is Status.HEALTHY or _failover_only(current)):
        # e.g. a host is lost: nodes to move cannot hand over or be waited for; the
        # bootstrap after the apply repairs the cluster
        report(
            Event(
                "rolling",
                stack.name,
                "info",
                f"{current.status.value} before the update: plain rolling restart",
            )
        )
        return None
    return StackGuard(plan.desired, access, report, options.concurrency)


def _failover_only(report: HealthReport) -> bool:
    """Degraded only because roles were swapped by a failover (every shard replicated)."""
    return report.status is Status.DEGRADED and all(
        p.message.startswith("failover:") for p in report.problems
    )


def admin_access(store: CertStore, timeout: float) -> RedisAccess:
    """How the engine logs in to every node: the admin client certificate and password."""
    creds = load_admin_credentials(store)
    return RedisAccess(
        TLSClientFiles(ca=creds.ca_path, cert=creds.cert_path, key=creds.key_path),
        Credentials(creds.username, creds.password),
        timeout=timeout,
    )
