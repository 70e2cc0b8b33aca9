"""Bad input to `deploy` on the real lab: each fails fast, says why, leaves nothing half-made."""

from __future__ import annotations

import re
from pathlib import Path

from .conftest import SwarmLab
from .helpers import cli, stack_copy


def _objects(lab: SwarmLab, stack: str) -> dict[str, list[str]]:
    label = f"label=com.docker.stack.namespace={stack}"
    return {
        kind: lab.docker(1, kind, "ls", "-q", "--filter", label).split()
        for kind in ("service", "secret", "config", "network")
    }


def test_more_domains_than_the_swarm_has_fails_before_any_change(
    swarm_lab: SwarmLab, tmp_path: Path
) -> None:
    stack_file = stack_copy(tmp_path, "cluster", "itbad1", 7500, replicas=3)
    certs = tmp_path / "certs"
    result = cli(
        "deploy", str(stack_file), "--certs-dir", str(certs), docker_host=swarm_lab.docker_host
    )
    assert result.returncode == 4  # PlacementError: the tool could not run
    assert "Traceback" not in result.stderr
    needs = r"anti-affinity\s+needs\s+4\s+spread\s+domains\s+\(node\.labels\.zone\)"
    assert re.search(needs, result.stderr), result.stderr
    assert "--allow-colocation" in result.stderr
    assert _objects(swarm_lab, "itbad1") == {
        k: [] for k in ("service", "secret", "config", "network")
    }
    assert not (certs / "itbad1").exists()


def test_missing_image_fails_fast_with_the_host_and_the_engine_error(
    swarm_lab: SwarmLab, tmp_path: Path
) -> None:
    """A missing image: deploy's preflight refuses it on every host before anything is
    created; with --skip-preflight, the task's own error names the service and host."""
    stack_file = stack_copy(tmp_path, "standalone", "itbad2", 7520, image="redis:9.9-absent")
    args = ("deploy", str(stack_file), "--certs-dir", str(tmp_path / "certs"), "--timeout", "240")
    try:
        refused = cli(*args, docker_host=swarm_lab.docker_host)
        assert refused.returncode == 2, refused.stderr  # PreflightFailed
        assert "3 preflight check(s) failed: lab-h1: image: redis:9.9-absent" in refused.stderr
        assert "No such image" in refused.stderr, refused.stderr  # the rejection's words
        assert _objects(swarm_lab, "itbad2") == {
            k: [] for k in ("service", "secret", "config", "network")
        }
        result = cli(*args, "--skip-preflight", docker_host=swarm_lab.docker_host)
        assert result.returncode == 2  # ConvergenceError: the deploy failed
        assert "itbad2_node-1 on lab-h" in result.stderr, result.stderr
        assert "not running after" not in result.stderr  # the task's error, not a timeout
        assert "re-run deploy" in result.stderr
    finally:
        cli("rm", "itbad2", "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


def test_a_worker_engine_is_refused_before_any_change(swarm_lab: SwarmLab, tmp_path: Path) -> None:
    stack_file = stack_copy(tmp_path, "standalone", "itbad3", 7540)
    worker = swarm_lab.docker_host.replace("/h1/", "/h2/")
    result = cli(
        "deploy", str(stack_file), "--certs-dir", str(tmp_path / "certs"), docker_host=worker
    )
    assert result.returncode == 4  # NotAManager
    assert "is a Swarm worker, not a manager" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _objects(swarm_lab, "itbad3")["service"] == []


def test_an_unreachable_engine_is_one_line(tmp_path: Path) -> None:
    stack_file = stack_copy(tmp_path, "standalone", "itbad4", 7560)
    result = cli(
        "deploy",
        str(stack_file),
        "--certs-dir",
        str(tmp_path / "certs"),
        docker_host="unix:///nonexistent.sock",
    )
    assert result.returncode == 4  # DockerUnreachable
    assert result.stderr.strip().splitlines() == [
        "error: no Docker engine reachable at unix:///nonexistent.sock (is dockerd running? "
        "set DOCKER_HOST or --docker-host to a Swarm manager)"
    ]


def test_a_bad_stack_file_names_the_field(tmp_path: Path, swarm_lab: SwarmLab) -> None:
    stack_file = stack_copy(tmp_path, "cluster", "itbad5", 7580, shards=2)
    result = cli("deploy", str(stack_file), docker_host=swarm_lab.docker_host)
    assert result.returncode == 4  # SpecError
    assert "shards" in result.stderr and ">= 3" in result.stderr, result.stderr
