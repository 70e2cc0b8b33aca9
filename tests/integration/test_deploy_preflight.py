"""`swarmredis preflight` on the lab: every host read with the stack's image, the kernel's
settings as the kernel reports them, and a host made to fail (the image is not there):
preflight exits 2 naming it, and `deploy` refuses before creating anything.

Named to run before the modules that kill lab engines: after a host's engine was killed
and started again, the logs of that host's job tasks sometimes read empty through the
manager (the CI run at 6bc5c81), and preflight then skips what the log holds there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import SwarmLab
from .helpers import cli, stack_copy
from .probes import docker

STACK = "itpf"
MISSING_ON_H3 = "redis:7.0-preflight"  # a second tag of the lab image, on lab-h1 and lab-h2


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    return stack_copy(tmp_path, "cluster", STACK, 7650)


def kernel_choice(path: str) -> str:
    """The bracketed choice of a sysfs list, read here (the lab's hosts share this kernel)."""
    text = Path(path).read_text()
    return text.split("[", 1)[1].split("]", 1)[0]


def test_preflight_reads_every_host_as_the_kernel_reports_it(
    swarm_lab: SwarmLab, stack_file: Path
) -> None:
    result = cli("preflight", str(stack_file), "--json", docker_host=swarm_lab.docker_host)
    report = json.loads(result.stdout)
    verdicts = {c["verdict"] for c in report["checks"]}
    assert result.returncode == report["exit_code"] == (1 if "warn" in verdicts else 0)
    assert "fail" not in verdicts, report["checks"]
    by_host: dict[str, dict[str, dict[str, str]]] = {}
    for check in report["checks"]:
        by_host.setdefault(check["host"], {})[check["check"]] = check
    assert sorted(by_host) == ["lab-h1", "lab-h2", "lab-h3"]
    thp = kernel_choice("/sys/kernel/mm/transparent_hugepage/enabled")
    defrag = kernel_choice("/sys/kernel/mm/transparent_hugepage/defrag")
    overcommit = Path("/proc/sys/vm/overcommit_memory").read_text().strip()
    for host, checks in by_host.items():
        assert checks["transparent huge pages"]["found"] == f"enabled [{thp}]", host
        assert checks["THP defrag"]["found"] == f"defrag [{defrag}]", host
        assert checks["vm.overcommit_memory"]["found"] == overcommit, host
        assert checks["image"]["found"].startswith("redis:7.0: redis-server 7."), host
        assert checks["memory"]["verdict"] == "pass", host  # two 512 MiB nodes a host
        assert checks["clock"]["verdict"] == "pass", host  # one kernel clock
        if overcommit != "1":
            assert "sysctl -w vm.overcommit_memory=1" in checks["vm.overcommit_memory"]["fix"]


def test_a_host_without_the_image_fails_and_deploy_creates_nothing(
    swarm_lab: SwarmLab, stack_file: Path, tmp_path: Path
) -> None:
    for k in (1, 2):
        docker(k, "tag", "redis:7.0", MISSING_ON_H3)
    docker(3, "image", "rm", MISSING_ON_H3, check=False)  # an earlier run's
    text = stack_file.read_text().replace("image: redis:7.0", f"image: {MISSING_ON_H3}")
    assert MISSING_ON_H3 in text
    stack_file.write_text(text)
    result = cli("preflight", str(stack_file), "--json", docker_host=swarm_lab.docker_host)
    assert result.returncode == 2, result.stdout + result.stderr
    failed = [c for c in json.loads(result.stdout)["checks"] if c["verdict"] == "fail"]
    assert [(c["host"], c["check"]) for c in failed] == [("lab-h3", "image")]
    assert "docker load" in failed[0]["fix"]

    certs = str(tmp_path / "certs")
    refused = cli(
        "deploy", str(stack_file), "--certs-dir", certs, docker_host=swarm_lab.docker_host
    )
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr
    assert "1 preflight check(s) failed: lab-h3: image" in refused.stderr
    assert "nothing changed" in refused.stderr
    for kind in ("service", "secret", "config", "network"):
        listed = docker(
            1, kind, "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}"
        )
        assert listed.stdout.strip() == "", kind
