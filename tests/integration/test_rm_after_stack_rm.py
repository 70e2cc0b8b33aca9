"""After `docker stack rm NAME`: a deploy says loudly that it takes over the old data, and
`rm NAME --volumes` still finds the volumes and empties them.

`docker stack rm` removes the services, network, secrets and configs of the stack, but not
its volumes, nor the record of them that deploy keeps (a config without the stack's
labels). Without that record a later deploy of the same name would bring the old data back
unannounced, with a new CA and new passwords.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from .conftest import SwarmLab
from .helpers import cli, stack_copy

STACK = "itgone"
NAMESPACE = f"label=com.docker.stack.namespace={STACK}"


def _gone(lab: SwarmLab, within: float = 120) -> None:
    """No service, and no container of the stack left on any host (bounded)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        services = lab.docker(1, "service", "ls", "-q", "--filter", NAMESPACE).split()
        containers = [
            c
            for k in range(1, lab.size + 1)
            for c in lab.docker(k, "ps", "-aq", "--filter", NAMESPACE).split()
        ]
        if not services and not containers:
            return
        time.sleep(0.5)
    raise AssertionError(f"stack {STACK} still has services or containers after {within:g}s")


def test_after_docker_stack_rm_deploy_names_the_old_data_and_rm_volumes_empties_it(
    swarm_lab: SwarmLab, tmp_path: Path
) -> None:
    stack_file = stack_copy(tmp_path, "cluster", STACK, 7860)
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)

    def deploy(certs: str) -> subprocess.CompletedProcess[str]:
        done = cli(
            "deploy",
            str(stack_file),
            "--certs-dir",
            str(tmp_path / certs),
            docker_host=swarm_lab.docker_host,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr
        return done

    first = deploy("certs")
    assert "took over data" not in first.stdout  # a fresh cluster: nothing to announce
    swarm_lab.docker(1, "stack", "rm", STACK)
    _gone(swarm_lab)
    # a brand-new store (new CA, new passwords) finds the old cluster in the volumes
    again = deploy("certs-new")
    assert f"took over data that no service of stack {STACK} owned" in again.stdout
    assert "node-1 (id " in again.stdout and f"swarmredis rm {STACK} --volumes" in again.stdout
    swarm_lab.docker(1, "stack", "rm", STACK)
    _gone(swarm_lab)

    removed = cli("rm", STACK, "--volumes", "--yes", docker_host=swarm_lab.docker_host)
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "emptied 6 volume(s)" in removed.stdout, removed.stdout
    volumes = [
        (k, v)
        for k in range(1, swarm_lab.size + 1)
        for v in swarm_lab.docker(k, "volume", "ls", "-q", "--filter", NAMESPACE).split()
    ]
    assert volumes, "the nodes' volumes should still exist (emptied, not removed)"
    for k, volume in volumes:
        left = swarm_lab.docker(
            k, "run", "--rm", "-v", f"{volume}:/v", "redis:7.0", "ls", "-A", "/v"
        )
        assert left.strip() == "", (k, volume, left)
    configs = swarm_lab.docker(1, "config", "ls", "--format", "{{.Name}}").split()
    assert f"swarmredis-volumes-{STACK}" not in configs  # the record went with the data

    gone = cli("rm", STACK, "--volumes", "--yes", docker_host=swarm_lab.docker_host)
    assert gone.returncode == 4, gone.stdout + gone.stderr
    assert "no stack named 'itgone'" in gone.stderr

    fresh = deploy("certs-fresh")  # empty volumes: a new cluster, nothing taken over
    assert "took over data" not in fresh.stdout
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)
