"""Applying a plan to the Swarm: create and update objects concurrently, in dependency order.

Order: network -> secrets and configs (concurrently) -> services: creates and removals
concurrently, updates in rolling batches of ``update.parallelism``, each batch
waited to converge before the next -> old secret/config versions and pruned
objects. Every fan-out is bounded by one ``CapacityLimiter``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from swarmredis import labels
from swarmredis.constants import DEFAULT_CONCURRENCY
from swarmredis.engine.events import Event, Reporter
from swarmredis.engine.swarm.converge import Target, known_task_ids, wait_converged
from swarmredis.engine.swarm.remove import remove_when_released
from swarmredis.errors import SwarmRedisError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.diff import Change, Plan, network_recreate_refusal
from swarmredis.plan.objects import resolve_references
from swarmredis.plan.tasks import Placed


class Guard(Protocol):
    """Wraps each batch of a rolling update (``engine.flows.rolling.StackGuard``)."""

    async def before(self, restarting: Sequence[str], placed: Mapping[str, Placed]) -> None:
        """Runs before the batch's services are updated."""

    async def after(self, placed: Mapping[str, Placed]) -> None:
        """Runs once the batch converged; ``placed`` is every service's current task."""


@dataclass
class ApplyResult:
    """What the apply did, and where each service's task runs now."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    placed: dict[str, Placed] = field(default_factory=dict)
    network_id: str | None = None


@dataclass
class _Run:
    gateway: DockerGateway
    plan: Plan
    report: Reporter
    limiter: anyio.CapacityLimiter
    deadline: float
    result: ApplyResult
    ids: dict[str, str] = field(default_factory=dict)  # object name -> id
    guard: Guard | None = None

    async def fan_out(
        self, changes: Sequence[Change], fn: Callable[[Change], Awaitable[None]]
    ) -> None:
        async def one(change: Change) -> None:
            async with self.limiter:
                await fn(change)

        async with anyio.create_task_group() as tg:
            for change in changes:
                tg.start_soon(one, change)


async def apply_plan(
    gateway: DockerGateway,
    plan: Plan,
    *,
    report: Reporter,
    limiter: anyio.CapacityLimiter | None = None,
    deadline: float = 300.0,
    guard: Guard | None = None,
) -> ApplyResult:
    """Make the Swarm match ``plan``; returns what changed and the converged placement.

    Every fan-out holds ``limiter`` (the run's); the guard's steps run between fan-outs,
    never inside one. ``guard`` wraps each batch of service updates
    (``engine.flows.rolling``).
    """
    bound = limiter or anyio.CapacityLimiter(DEFAULT_CONCURRENCY)
    run = _Run(gateway, plan, report, bound, deadline, ApplyResult(), guard=guard)
    for change in plan.items:
        if change.id:
            run.ids[change.name] = change.id
    await _network(run)
    data = [c for c in plan.items if c.kind in ("secret", "config") and c.action == "create"]
    await run.fan_out(data, lambda c: _create(run, c))
    services = [c for c in plan.items if c.kind == "service"]
    known = await known_task_ids(gateway, [c.id for c in services if c.id])
    await _services(run, services, known)
    later = [c for c in plan.items if c.action == "remove" and c.kind != "service"]
    for kind in ("config", "secret", "network"):
        await run.fan_out([c for c in later if c.kind == kind], lambda c: _remove(run, c))
    return run.result


async def remove_retired(
    gateway: DockerGateway,
    plan: Plan,
    *,
    report: Reporter,
    limiter: anyio.CapacityLimiter | None = None,
) -> list[str]:
    """Remove what the plan retires (``Plan.retiring``): the services, then the configs
    and certificates only they used. Returns the names removed."""
    bound = limiter or anyio.CapacityLimiter(DEFAULT_CONCURRENCY)
    run = _Run(gateway, plan, report, bound, 0.0, ApplyResult())
    for kind in ("service", "config", "secret"):
        await run.fan_out([c for c in plan.retiring if c.kind == kind], lambda c: _remove(run, c))
    return run.result.removed


async def _network(run: _Run) -> None:
    if run.plan.desired.network is None:
        return  # on the hosts' network (network.mode: host) the stack has no network object
    wanted = run.plan.desired.network.logical
    change = next(c for c in run.plan.items if c.kind == "network" and c.logical == wanted)
    if change.action == "update" and change.recreate:
        if refusal := network_recreate_refusal(run.plan):
            raise refusal
        await _remove(run, change)
        await _create(run, change)
    elif change.action == "create":
        await _create(run, change)
    run.result.network_id = run.ids.get(change.name)


async def _create(run: _Run, change: Change) -> None:
    assert change.desired is not None and change.desired.spec is not None
    spec = dict(change.desired.spec)
    if change.kind == "service":
        spec = resolve_references(spec, run.ids, run.ids)
    run.report(Event("apply", change.name, "start", f"create {change.kind}"))
    run.ids[change.name] = await run.gateway.create(change.kind, spec)
    run.result.created.append(change.name)
    run.report(Event("apply", change.name, "done", f"{change.kind} created"))


async def _update(run: _Run, change: Change) -> None:
    assert change.desired is not None and change.desired.spec is not None
    assert change.id is not None and change.version is not None
    spec = resolve_references(change.desired.spec, run.ids, run.ids)
    run.report(Event("apply", change.name, "start", "update: " + ", ".join(change.fields[:4])))
    # Swarm bumps a service's version on its own (e.g. when an earlier rolling update
    # completes), so the version read at planning time can be stale by now.
    current = await run.gateway.inspect("service", change.id)
    version = int((current.get("Version") or {}).get("Index", change.version))
    await run.gateway.update_service(change.id, version, spec)
    run.result.updated.append(change.name)
    run.report(Event("apply", change.name, "done", "service updated"))


async def _remove(run: _Run, change: Change) -> None:
    ident = change.id or change.name
    run.report(Event("apply", change.name, "start", f"remove {change.kind}"))
    await remove_when_released(run.gateway, change.kind, ident, attempts=20)
    run.result.removed.append(change.name)
    run.report(Event("apply", change.name, "done", f"{change.kind} removed"))


async def _services(run: _Run, services: Sequence[Change], known: frozenset[str]) -> None:
    creates = [c for c in services if c.action == "create"]
    removes = [c for c in services if c.action == "remove"]
    updates = sorted((c for c in services if c.action == "update"), key=_update_order)
    # a retiring node stays as it is, and placed: the mode drains it before it goes
    waiting = [c for c in services if c.action in ("create", "update", "live", "noop", "retire")]
    await run.fan_out(
        creates + removes, lambda c: _create(run, c) if c.action == "create" else _remove(run, c)
    )
    stack = run.plan.desired.stack
    batch = max(1, stack.update.parallelism)
    placed = await _converge(run, waiting, known, announce=False) if updates and run.guard else {}
    for start in range(0, len(updates), batch):
        group = updates[start : start + batch]
        if run.guard:
            await run.guard.before([c.logical for c in group], placed)
        await run.fan_out(group, lambda c: _update(run, c))
        # Guarded, the batch's containers need only have started: the guard's bootstrap
        # dials each node until it answers and waits until the stack is whole, which is
        # more than Swarm's first health check (5 s after the start) says. Unguarded (a
        # stack that was not healthy), each batch waits for that health check.
        guarded = run.guard is not None
        await _converge(run, group, known, started=guarded)
        if run.guard:
            placed = await _converge(run, waiting, known, announce=False, started=True)
            await run.guard.after(placed)
        if start + batch < len(updates) and stack.update.delay:
            await anyio.sleep(stack.update.delay)
    # the bootstrap dials each node until it answers, and the health step waits for Swarm's
    # health checks: no need to wait for them here (issue 9: a 5 s health check interval)
    final = await _converge(run, waiting, known, announce=not updates, started=True)
    run.result.placed.update(final)


def _update_order(change: Change) -> int:
    """Replicas first, then primaries, then sentinels: a restarting replica costs no
    availability, and by the time a primary restarts its replicas run the new spec."""
    spec = change.desired.spec if change.desired else None
    role = ((spec or {}).get("Labels") or {}).get(labels.PLANNED_ROLE, "")
    return {"replica": 0, "standalone": 1, "primary": 1, "sentinel": 2}.get(role, 1)


async def _converge(
    run: _Run,
    changes: Sequence[Change],
    known: frozenset[str],
    *,
    announce: bool = True,
    started: bool = False,
) -> dict[str, Placed]:
    assignment = run.plan.desired.assignment
    targets = [
        Target(
            logical=c.logical,
            service_id=run.ids[c.name],
            service_name=c.name,
            node_id=assignment.nodes[c.logical],
            hostname=assignment.hostnames[c.logical],
        )
        for c in changes
    ]

    def running(target: Target) -> None:
        if announce:
            state = "started" if started else "running"
            run.report(
                Event("converge", target.service_name, "done", f"{state} on {target.hostname}")
            )

    try:
        return await wait_converged(
            run.gateway,
            targets,
            network_id=run.result.network_id,
            known=known,
            deadline=run.deadline,
            on_running=running,
            started=started,
        )
    except SwarmRedisError as error:
        run.report(Event("converge", "services", "fail", str(error)))
        raise
