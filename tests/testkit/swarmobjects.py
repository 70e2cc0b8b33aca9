"""What the Swarm holds of a stack, found by label: the audit that nothing is orphaned.

Objects are found by label (``com.docker.stack.namespace`` and ``io.swarmredis.stack``),
never by name, except containers: a job's containers may carry no stack label, so they
are found by the ``<stack>_`` prefix of their service's name.
"""

from __future__ import annotations

import json
from typing import Protocol

from swarmredis import labels
from swarmredis.engine.swarm.lock import lock_name
from swarmredis.plan.jobs import record_name


class Lab(Protocol):
    """The lab as these checks use it (``tests/integration/conftest.SwarmLab``)."""

    size: int

    def docker(self, k: int, *args: str) -> str: ...


def stack_objects(lab: Lab, kind: str, stack: str, fmt: str = "{{.ID}}") -> set[str]:
    """IDs (or ``fmt``) of the ``kind`` objects labelled as the stack's, by docker stack's
    label or swarmredis's."""
    args = [kind, "ls", "-q"] if fmt == "{{.ID}}" else [kind, "ls", "--format", fmt]
    if kind == "network":
        args.append("--no-trunc")  # full ids, as service specs name them
    out: set[str] = set()
    for label in (f"{labels.STACK_NAMESPACE}={stack}", f"{labels.STACK}={stack}"):
        out |= set(lab.docker(1, *args, "--filter", f"label={label}").split())
    return out


def assert_nothing_orphaned(lab: Lab, stack: str, services: set[str]) -> None:
    """Every object with the stack's labels is one the plan expects: its services, the
    secrets, configs, networks and volumes they use (each volume on one host only), one
    running container per service; the volume record, and no lock or job left."""
    assert stack_objects(lab, "service", stack, "{{.Name}}") == services
    specs = [s["Spec"] for s in json.loads(lab.docker(1, "service", "inspect", *sorted(services)))]
    task = [s["TaskTemplate"] for s in specs]
    used_secrets = {r["SecretID"] for t in task for r in t["ContainerSpec"].get("Secrets", [])}
    used_configs = {r["ConfigID"] for t in task for r in t["ContainerSpec"].get("Configs", [])}
    used_networks = {n["Target"] for t in task for n in t.get("Networks", [])}
    volumes = {m["Source"] for t in task for m in t["ContainerSpec"].get("Mounts", [])}
    assert stack_objects(lab, "secret", stack) == used_secrets
    assert stack_objects(lab, "config", stack) == used_configs
    assert stack_objects(lab, "network", stack) <= used_networks
    hosts_of: dict[str, list[int]] = {}
    running: dict[str, int] = {}
    for k in range(1, lab.size + 1):
        for volume in stack_volumes(lab, k, stack):
            hosts_of.setdefault(volume, []).append(k)
        ps = lab.docker(
            k,
            "ps",
            "-a",
            "--filter",
            f"name={stack}_",  # the stack's tasks and any job's, labelled or not
            "--format",
            '{{.Label "com.docker.swarm.service.name"}} {{.State}}',
        )
        for line in ps.splitlines():
            service, state = line.split()
            if _job_left_exited(stack, service, state):
                continue
            assert service in services, f"host {k}: a container of {service} ({state})"
            running[service] = running.get(service, 0) + (state == "running")
    assert set(hosts_of) == volumes and all(len(h) == 1 for h in hosts_of.values()), hosts_of
    assert running == dict.fromkeys(services, 1)
    configs = lab.docker(1, "config", "ls", "--format", "{{.Name}}").split()
    assert record_name(stack) in configs and lock_name(stack) not in configs


def stack_volumes(lab: Lab, k: int, stack: str) -> list[str]:
    """Names of the volumes on host ``k`` labelled as the stack's."""
    return lab.docker(
        k, "volume", "ls", "-q", "--filter", f"label={labels.STACK_NAMESPACE}={stack}"
    ).split()


# Short jobs whose exited containers Docker 20.10 leaves on each host once the job service
# is removed (moby/moby#44312; docs/operations.md): they hold nothing. Their service must
# be gone (checked above) and none may still run.
_JOBS = ("preflight", "image-probe", "live-config-")


def _job_left_exited(stack: str, service: str, state: str) -> bool:
    job = any(service.startswith(f"{stack}_{name}") for name in _JOBS)
    return job and state == "exited"
