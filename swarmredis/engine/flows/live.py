"""Live settings (plan/liveconf.py): written to each node's volume first, so that a
restart keeps them, then set with ``CONFIG SET`` and read back with ``CONFIG GET``;
last, for a node that changes nothing else, the service's ``config-live`` label (no
restart: Swarm restarts a task only when its task template changes).

After the bootstrap, ``converge_live`` reads every data node's live settings (one
``CONFIG GET``) and sets those that differ from the plan the same way: a volume that
outlived its service (``rm`` keeps volumes) may hold the live file of an earlier deploy.

A node that does not answer stops the step; the next deploy does it again (every step
writes the whole desired state, so doing it twice is harmless).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import anyio

from swarmredis import labels
from swarmredis.engine.context import RunContext
from swarmredis.engine.events import Event
from swarmredis.engine.flows.status import stack_targets
from swarmredis.engine.redis.nodes import fan_out
from swarmredis.engine.redis.verdict import HealthTarget
from swarmredis.engine.swarm.jobs import run_global_job
from swarmredis.errors import DockerError, RedisError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.diff import Change, Plan
from swarmredis.plan.jobs import job_outcomes
from swarmredis.plan.liveconf import decode, live_file, live_job, same_value
from swarmredis.plan.objects import resolve_references

AGAIN = "run deploy again: it sets the live settings again (nothing restarts)"


def changes_setting_live(plan: Plan) -> list[Change]:
    """The service changes that set live settings (``live``, or an ``update`` that does
    before its restart)."""
    return [c for c in plan.items if c.kind == "service" and c.live]


def _values(change: Change) -> dict[str, str]:
    spec = change.desired.spec if change.desired else None
    return decode(((spec or {}).get("Labels") or {}).get(labels.CONFIG_LIVE))


async def apply_live(
    gateway: DockerGateway, plan: Plan, run: RunContext, deadline: float
) -> list[str]:
    """Set the plan's live settings on their nodes (see the module doc); returns the nodes."""
    changes = changes_setting_live(plan)
    if not changes:
        return []
    stack = plan.desired.stack.name
    what = "; ".join(f"{c.logical}: {', '.join(c.live)}" for c in changes)
    run.report(Event("live", stack, "start", what))
    with run.timed("live settings"):
        await _write_files(gateway, plan, changes, deadline)
        targets = {t.name: t for t in await stack_targets(gateway, stack)}
        await fan_out(
            changes,
            lambda c: _set(run, targets.get(c.logical), c),
            limiter=run.limiter,
            what=f"{stack}: live settings not set everywhere",
        )
        ids = {c.name: c.id for c in plan.items if c.id}
        for change in (c for c in changes if c.action == "live"):
            await _label(gateway, change, ids)
    done = ", ".join(c.logical for c in changes)
    restarts = [c.logical for c in changes if c.action != "live"]
    after = f" ({', '.join(restarts)} restart next, with them)" if restarts else ", no restart"
    run.report(Event("live", stack, "done", f"set and read back on {done}{after}"))
    return [c.logical for c in changes]


async def _write_files(
    gateway: DockerGateway, plan: Plan, changes: Sequence[Change], deadline: float
) -> None:
    """One job per host writes the live file of each of its nodes (in its volume)."""
    if not changes:
        return
    by_host: dict[str, list[tuple[str, str, Mapping[str, str]]]] = defaultdict(list)
    for change in changes:
        spec = change.desired.spec if change.desired else None
        assert spec is not None
        container = spec["TaskTemplate"]["ContainerSpec"]
        volume = next(m["Source"] for m in container["Mounts"] if m.get("Type") == "volume")
        path = live_file(spec["Labels"][labels.CONFIG_STATIC])
        by_host[plan.desired.assignment.nodes[change.logical]].append(
            (volume, path, _values(change))
        )
    assignment = plan.desired.assignment
    hostnames = {assignment.nodes[c.logical]: assignment.hostnames[c.logical] for c in changes}
    stack = plan.desired.stack.name
    failed: list[str] = []

    # the job runs as the nodes do (their image and user: the volume's files are theirs)
    image, user = container["Image"], container["User"]

    async def one(host: str) -> None:
        body = live_job(stack, host, image, user, by_host[host])
        tasks = await run_global_job(gateway, body, deadline)
        for name, state, why in job_outcomes(tasks, {host: hostnames[host]}):
            if state != "complete":
                failed.append(f"{name}: {why}")

    async with anyio.create_task_group() as tg:
        for host in by_host:
            tg.start_soon(one, host)
    if failed:
        raise DockerError(
            f"{stack}: the live settings could not be written: " + "; ".join(sorted(failed)),
            hint="nothing was set; see `docker service ps`, then " + AGAIN,
        )


async def _set(run: RunContext, target: HealthTarget | None, change: Change) -> None:
    """``set_live`` on a change's node. A node that restarts next may be down: it reads
    its settings from its file then."""
    if target is None:
        if change.action == "update":
            return
        raise RedisError(f"{change.logical} has no running task", node=change.logical, hint=AGAIN)
    try:
        await set_live(run, target, _values(change))
    except RedisError:
        if change.action != "update":
            raise


async def set_live(run: RunContext, target: HealthTarget, values: Mapping[str, str]) -> None:
    """``CONFIG SET`` every value at once (Redis applies all or none), then ``CONFIG GET``
    each back; raises ``RedisError`` naming what the node does not run."""
    try:
        with anyio.fail_after(run.access.timeout * 4):
            async with run.access.connect(
                target.name, target.endpoint, server_name=target.server_name
            ) as node:
                args: list[Any] = [part for item in values.items() for part in item]
                await node.execute("CONFIG", "SET", *args)
                wrong = _differing(await node.execute("CONFIG", "GET", *values), values)
    except TimeoutError:
        raise RedisError(
            f"{target.name}: CONFIG SET did not answer in time", node=target.name, hint=AGAIN
        ) from None
    if wrong:
        raise RedisError(
            f"{target.name}: after CONFIG SET, " + "; ".join(wrong),
            node=target.name,
            command="CONFIG GET",
            hint=AGAIN,
        )


def _differing(reply: Any, values: Mapping[str, str]) -> list[str]:
    """What a ``CONFIG GET key...`` reply (a flat list or a mapping) shows of ``values``
    that is not what they say: ``maxmemory is '1', not '2'``."""
    if isinstance(reply, Mapping):
        found = {str(k): str(v) for k, v in reply.items()}
    else:
        items = [str(x) for x in reply or ()]
        found = dict(zip(items[::2], items[1::2], strict=False))
    return [
        f"{key} is {found.get(key)!r}, not {wanted!r}"
        for key, wanted in values.items()
        if key not in found or not same_value(wanted, found[key])
    ]


async def _label(gateway: DockerGateway, change: Change, ids: Mapping[str, str | None]) -> None:
    """The service's spec with its new ``config-live`` label: nothing in its task changes."""
    assert change.desired is not None and change.desired.spec is not None
    assert change.id is not None
    known = {name: ident for name, ident in ids.items() if ident}
    spec = resolve_references(change.desired.spec, known, known)
    current = await gateway.inspect("service", change.id)
    version = int((current.get("Version") or {}).get("Index", change.version or 0))
    await gateway.update_service(change.id, version, spec)


async def converge_live(
    gateway: DockerGateway, plan: Plan, run: RunContext, deadline: float
) -> list[str]:
    """After the bootstrap: every data node runs the live values the plan wants. One that
    does not (its volume kept the live file of an earlier deploy, across an `rm` that kept
    the volumes; someone ran CONFIG SET) gets them as a live change would: file, then
    CONFIG SET. Returns the nodes set again."""
    wanted = {
        c.logical: c
        for c in plan.items
        if c.kind == "service" and c.action != "retire" and _values(c)
    }
    if not wanted:
        return []
    stack = plan.desired.stack.name
    targets = [t for t in await stack_targets(gateway, stack) if t.name in wanted]

    async def drifted(target: HealthTarget) -> str | None:
        values = _values(wanted[target.name])
        try:
            with anyio.fail_after(run.access.timeout * 2):
                async with run.access.connect(
                    target.name, target.endpoint, server_name=target.server_name
                ) as node:
                    reply = await node.execute("CONFIG", "GET", *values)
        except (RedisError, TimeoutError):
            return None  # health says so next
        return target.name if _differing(reply, values) else None

    found = await fan_out(targets, drifted, limiter=run.limiter, what="cannot read settings")
    names = [n for n in found if n is not None]
    if not names:
        return []
    changes = [wanted[n] for n in names]
    run.report(
        Event("live", stack, "start", f"{', '.join(names)} run other live settings than planned")
    )
    await _write_files(gateway, plan, changes, deadline)
    by_name = {t.name: t for t in targets}
    await fan_out(
        changes,
        lambda c: set_live(run, by_name[c.logical], _values(c)),
        limiter=run.limiter,
        what=f"{stack}: live settings not set everywhere",
    )
    run.report(Event("live", stack, "done", f"set and read back on {', '.join(names)}"))
    return names
