"""Running a one-shot Swarm job on every eligible host (bodies in ``plan.jobs``)."""

from __future__ import annotations

from typing import Any

import anyio

from swarmredis.engine.polling import Backoff
from swarmredis.errors import DeployTimeout
from swarmredis.gateway.docker import DockerGateway
from swarmredis.plan.jobs import job_settled
from swarmredis.plan.tasks import Task, tasks_of


async def run_global_job(
    gateway: DockerGateway, body: dict[str, Any], deadline: float
) -> list[Task]:
    """Create the job, wait (bounded) until every host finished or failed, remove it
    (shielded, so a cancellation cannot leave it behind); returns its tasks."""
    job = await gateway.create("service", body)
    try:
        return await _wait_job(gateway, job, deadline, str(body.get("Name", job)))
    finally:
        with anyio.CancelScope(shield=True):
            await gateway.remove("service", job)


async def _wait_job(gateway: DockerGateway, job: str, deadline: float, name: str) -> list[Task]:
    backoff = Backoff(cap=0.5)
    with anyio.move_on_after(deadline):
        while True:
            tasks = tasks_of(await gateway.tasks([job]))
            if job_settled(tasks):
                return tasks
            await anyio.sleep(backoff.delay())
    raise DeployTimeout(
        f"{name} did not finish within {deadline:.0f}s",
        hint=f"see `docker service ps {name}`; re-running the command repeats it",
        stage="job",
    )
