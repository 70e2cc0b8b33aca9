"""An image change, checked before the first restart: the new image must run on every
host the stack may use, carry ``redis-server`` and ``redis-cli``, and not be an older
major version than the one running (Redis cannot load a newer major's RDB or AOF, so a
downgrade would leave the restarted nodes unable to read their data).

The check is a short Swarm job (``plan/upgrade.probe_job``); the running version comes
from ``INFO server`` of every data node. Nothing changes when it refuses.
"""

from __future__ import annotations

import anyio

from swarmredis.engine.context import RunContext
from swarmredis.engine.events import Event
from swarmredis.engine.flows.status import stack_targets
from swarmredis.engine.redis.nodes import fan_out
from swarmredis.engine.redis.replies import parse_info
from swarmredis.engine.redis.verdict import HealthTarget
from swarmredis.engine.swarm.jobs import run_global_job
from swarmredis.errors import ImageError, RedisError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.diff import Plan
from swarmredis.plan.jobs import volumes_of
from swarmredis.plan.tasks import Task
from swarmredis.plan.upgrade import (
    IMAGE_FIELD,
    major_of,
    probe_answer,
    probe_job,
    probe_outcomes,
)


def changes_image(plan: Plan) -> bool:
    """Whether the plan restarts a service to give it another image."""
    return any(
        c.kind == "service" and c.action == "update" and IMAGE_FIELD in c.fields for c in plan.items
    )


async def check_image(gateway: DockerGateway, plan: Plan, run: RunContext, deadline: float) -> None:
    """Refuse (``ImageError``) an image that some host cannot run, that lacks what the
    stack needs, or whose major version is older than the running one."""
    stack = plan.desired.stack
    image = stack.image
    run.report(Event("upgrade", stack.name, "start", f"checking {image} on every host"))
    volumes = volumes_of([{"Spec": s.spec} for s in plan.desired.services])
    constraints = volumes.constraints if volumes else ()
    hostnames = {
        str(n["ID"]): str((n.get("Description") or {}).get("Hostname", n["ID"]))
        for n in await gateway.nodes()
    }
    with run.timed("image check"):
        tasks: list[Task] = await run_global_job(
            gateway, probe_job(stack.name, image, constraints), deadline
        )
        running = await _running_majors(gateway, stack.name, run)
    answers = {
        host: probe_answer(state, why, image, host)
        for host, state, why in probe_outcomes(tasks, hostnames)
    }
    problems = [a for a in answers.values() if isinstance(a, str)]
    if not answers:
        problems.append(f"no host may run {image}: see the stack's placement constraints")
    if problems:
        raise ImageError(
            f"{stack.name}: image {image} refused: " + "; ".join(problems),
            hint="nothing changed; fix the image or the hosts, then deploy again",
        )
    new = {a for a in answers.values() if isinstance(a, int)}
    older = [f"{node} runs {major}" for node, major in running.items() if major > min(new)]
    if older:
        raise ImageError(
            f"{stack.name}: image {image} has redis-server {min(new)}, older than what "
            f"runs now ({', '.join(older)}): a node restarted on it could not read its data",
            hint="set image: back to a version of the same or a newer major",
        )
    majors = ", ".join(str(m) for m in sorted(new))
    message = f"{image}: redis-server {majors} on {len(answers)} host(s)"
    run.report(Event("upgrade", stack.name, "done", message))


async def _running_majors(gateway: DockerGateway, stack: str, run: RunContext) -> dict[str, int]:
    """The major version each data node that answers runs (``INFO server``); a node that
    does not answer is left out (a deploy may be repairing it)."""
    targets = [t for t in await stack_targets(gateway, stack) if t.role != "sentinel"]
    out: dict[str, int] = {}

    async def one(target: HealthTarget) -> None:
        try:
            with anyio.fail_after(run.access.timeout * 2):
                async with run.access.connect(
                    target.name, target.endpoint, server_name=target.server_name
                ) as node:
                    info = parse_info(str(await node.execute("INFO", "server")))
        except (RedisError, TimeoutError):
            return
        major = major_of(info.get("redis_version", ""))
        if major is not None:
            out[target.name] = major

    await fan_out(targets, one, limiter=run.limiter, what="cannot read versions")
    return out
