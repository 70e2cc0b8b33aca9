"""``preflight``: read every host the stack may use, change nothing, and judge what it
read (``plan/preflight.py``): a GlobalJob of the stack's image prints the host's settings,
Docker gives the engine version and the host's clock against the manager's."""

from __future__ import annotations

import re
from collections.abc import Sequence

from swarmredis.engine.context import RunContext
from swarmredis.engine.events import Event
from swarmredis.engine.flows.plan import DeployOptions, read_live
from swarmredis.engine.swarm.jobs import run_global_job
from swarmredis.engine.swarm.observe import swarm_nodes
from swarmredis.errors import PreflightFailed, SwarmRedisError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.diff import Plan
from swarmredis.plan.jobs import volumes_of
from swarmredis.plan.preflight import (
    Check,
    HostFacts,
    Verdict,
    host_checks,
    parse_values,
    preflight_job,
    skew_seconds,
)
from swarmredis.plan.state import DesiredState, desired_state
from swarmredis.plan.tasks import Task, by_node, newest
from swarmredis.plan.upgrade import probe_answer
from swarmredis.stackfile.model import Stack

JOB_DEADLINE_S = 60.0
_EXIT = re.compile(r"exit \((\d+)\)")
LOG_LINES = 40  # the job prints a dozen


async def preflight(
    gateway: DockerGateway,
    stack: Stack,
    options: DeployOptions,
    *,
    deadline: float = JOB_DEADLINE_S,
) -> list[Check]:
    """``swarmredis preflight``: every check on every host the stack may use, by host."""
    live = await read_live(gateway, stack, options)
    return await hosts_checked(
        gateway, desired_state(stack, live.assignment, {}, live.layout), deadline
    )


async def check_hosts(gateway: DockerGateway, plan: Plan, run: RunContext, deadline: float) -> None:
    """Deploy's preflight: warnings reported, a failure refused (``PreflightFailed``)
    before anything changes."""
    stack = plan.desired.stack
    run.report(Event("preflight", stack.name, "start", "reading every host"))
    with run.timed("preflight"):
        checks = await hosts_checked(gateway, plan.desired, min(deadline, JOB_DEADLINE_S))
    for check in checks:
        if check.verdict is Verdict.WARN:
            run.report(
                Event("preflight", check.host, "info", f"warning: {check.name}: {check.found}")
            )
    failed = [c for c in checks if c.verdict is Verdict.FAIL]
    if failed:
        what = "; ".join(f"{c.host}: {c.name}: {c.found}" for c in failed)
        raise PreflightFailed(
            f"{stack.name}: {len(failed)} preflight check(s) failed: {what}",
            hint="nothing changed; `swarmredis preflight STACKFILE` shows each fix"
            " (or deploy with --skip-preflight)",
            checks=[c.to_dict() for c in failed],
        )
    hosts = len({c.host for c in checks})
    warned = sum(c.verdict is Verdict.WARN for c in checks)
    run.report(Event("preflight", stack.name, "done", f"{hosts} host(s), {warned} warning(s)"))


def creates_services(plan: Plan) -> bool:
    """Whether the plan creates services (a new stack, new nodes): deploy's preflight then."""
    return any(c.kind == "service" and c.action == "create" for c in plan.items)


async def hosts_checked(
    gateway: DockerGateway, desired: DesiredState, deadline: float
) -> list[Check]:
    """Run the job with ``desired``'s image and placement, and judge every host."""
    stack = desired.stack
    volumes = volumes_of([{"Spec": s.spec} for s in desired.services])
    constraints = volumes.constraints if volumes else ()
    nodes = await swarm_nodes(gateway)
    hostnames = {node_id: n.hostname for node_id, n in nodes.items()}
    engines = {node_id: n.engine_version for node_id, n in nodes.items()}
    planned: dict[str, list[str]] = {}
    for name, host in sorted(desired.assignment.hostnames.items()):
        planned.setdefault(host, []).append(name)
    body = preflight_job(stack.name, stack.image, constraints)
    tasks = await run_global_job(gateway, body, deadline)
    checks: list[Check] = []
    for node_id, own in sorted(by_node(tasks).items(), key=lambda i: hostnames.get(i[0], "")):
        host = hostnames.get(node_id, node_id)
        facts = await _facts(
            gateway, own, host, engines.get(node_id, ""), planned.get(host, []), stack.image
        )
        checks += host_checks(stack, facts)
    return checks


async def _facts(
    gateway: DockerGateway,
    tasks: Sequence[Task],
    host: str,
    engine: str,
    nodes: Sequence[str],
    image: str,
) -> HostFacts:
    """One host's facts: the image's answer from the exit code of the task that ran the
    job, the settings from its log (best effort: empty when the log does not come back);
    else what Swarm said about the newest task it rejected (e.g. the image is not there)."""
    ran = [t for t in tasks if t.state in ("failed", "complete") and _EXIT.search(t.words)]
    if not ran:  # Swarm creates a refused job task again: the new one is still pending
        task = newest([t for t in tasks if t.state == "rejected"]) or newest(tasks)
        words = task.words if task else "no task"
        return HostFacts(host, False, words, {}, engine, None, nodes)
    task = ran[0]
    try:
        values = parse_values(await gateway.task_logs(task.id, lines=LOG_LINES))
    except SwarmRedisError:
        values = {}
    skew = skew_seconds(task.status_at, task.updated_at)
    answer = probe_answer(task.state, task.words, image, host)
    return HostFacts(host, True, task.words, values, engine, skew, nodes, answer)
