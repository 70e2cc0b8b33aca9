"""`render` -> `secrets push` -> `docker stack deploy` -> `deploy` (adopt) on the lab.

The teams that keep Swarm stacks in Git deploy the rendered file with the Docker CLI;
`swarmredis deploy` then adopts what the CLI made: it sets what compose cannot say,
bootstraps the cluster, and `plan` says the stack matches.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from .conftest import SwarmLab
from .helpers import FAST_UPDATE, cli, stack_copy, status_json

STACK = "rnd"

pytestmark = pytest.mark.logs_on_failure(f"{STACK}_node-1", f"{STACK}_node-2")


def test_a_rendered_cluster_deployed_by_the_docker_cli_is_adopted_and_then_matches(
    swarm_lab: SwarmLab, tmp_path: Path
) -> None:
    host = swarm_lab.docker_host
    # three primaries, no replica: the cluster's health-check script (all its `$`) on every
    # host, and each adoption restart as short as it can be
    stack_file = stack_copy(
        tmp_path,
        "cluster",
        STACK,
        8400,
        replicas=0,
        placement={"spread": "node.id"},
        update=FAST_UPDATE,
    )
    certs = ["--certs-dir", str(tmp_path / "certs")]
    compose = tmp_path / "compose.yaml"
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=host)
    try:
        rendered = cli("render", str(stack_file), *certs, "-o", str(compose), docker_host=host)
        assert rendered.returncode == 0, rendered.stderr
        assert "DNS options timeout:1 attempts:1" in rendered.stderr
        doc = yaml.safe_load(compose.read_text())
        assert sorted(doc["services"]) == [f"node-{i}" for i in range(1, 4)]
        # nothing in the Swarm yet: render only planned (and issued the certificates)
        assert swarm_lab.docker(1, "service", "ls", "-q", "--filter", f"name={STACK}_") == ""

        pushed = cli("secrets", "push", str(stack_file), *certs, "--json", docker_host=host)
        assert pushed.returncode == 0, pushed.stderr
        first = json.loads(pushed.stdout)
        external = {v["name"] for b in ("secrets", "configs", "networks") for v in doc[b].values()}
        assert set(first["created"]) == external
        again = json.loads(
            cli("secrets", "push", str(stack_file), *certs, "--json", docker_host=host).stdout
        )
        assert again["created"] == [] and set(again["present"]) == external

        swarm_lab.docker(
            1, "stack", "deploy", "-c", str(compose), "--resolve-image", "never", STACK
        )
        listed = swarm_lab.docker(1, "stack", "services", "--format", "{{.Name}}", STACK)
        assert sorted(listed.split()) == [f"{STACK}_node-{i}" for i in range(1, 4)]

        # what the CLI made is not what swarmredis makes (DNS options): deploy adopts it
        before = cli("plan", str(stack_file), *certs, "--json", docker_host=host)
        assert before.returncode == 3, before.stdout[-2000:] + before.stderr
        actions = json.loads(before.stdout)["actions"]
        updates = {a["name"] for a in actions if a["action"] == "update"}
        assert updates == {f"{STACK}_node-{i}" for i in range(1, 4)}, actions
        assert not [a for a in actions if a["action"] == "create"], actions

        deployed = cli("deploy", str(stack_file), *certs, docker_host=host)
        assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr
        code, report = status_json(STACK, tmp_path / "certs", host)
        assert code == 0, report["problems"]
        assert report["cluster"]["state"] == "ok" and report["cluster"]["slots_ok"] == 16384

        after = cli("plan", str(stack_file), *certs, docker_host=host)
        assert after.returncode == 0, after.stdout[-2000:] + after.stderr
        assert "nothing to do" in after.stdout
    finally:
        cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=host)
