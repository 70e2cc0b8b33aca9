"""No secret of a deployed stack shows anywhere it should not (issue 10, security checks).

Deploys a cluster stack, then reads everything a person or a tool can read without the
secrets themselves: `docker service inspect`, the tasks, every container's inspect on
every host (environment, command, labels), the stack's configs with their data decoded,
the secrets' metadata, every container's logs, and swarmredis's own output (deploy, plan,
status, users). Each is scanned for the actual secret strings of the stack's store:
every user's password, every private key (its base64 body, line by line), and the
password hashes of the ACL file.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import SwarmLab
from .helpers import cli, deployed_stack

STACK = "itsec"
NAMESPACE = f"label=com.docker.stack.namespace={STACK}"


@pytest.fixture(scope="module")
def deployed(
    swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Path, str]]:
    with deployed_stack(swarm_lab, tmp_path_factory.mktemp(STACK), "cluster", STACK, 7880) as d:
        yield d.stack_file, d.certs, d.first.stdout + d.first.stderr


def _secrets(store: Path) -> dict[str, str]:
    """What must never show: secret string -> where it comes from."""
    found: dict[str, str] = {}
    for path in sorted((store / "users").glob("*.password")):
        password = path.read_text().strip()
        assert len(password) >= 16, path
        found[password] = f"password {path.name}"
        found[hashlib.sha256(password.encode()).hexdigest()] = f"ACL hash of {path.name}"
    for path in sorted(store.rglob("*.key")):
        body = [
            line
            for line in path.read_text().splitlines()
            if line and not line.startswith("-----") and len(line) >= 32
        ]
        assert body, path
        for line in body:
            found[line] = f"private key {path.relative_to(store)}"
    return found


def _readable(lab: SwarmLab, stack_file: Path, certs: Path) -> dict[str, str]:
    """Everything readable without the secrets: place -> text."""
    docker = lab.docker
    services = docker(1, "service", "ls", "-q", "--filter", NAMESPACE).split()
    assert services
    out = {"service inspect": docker(1, "service", "inspect", *services)}
    tasks = docker(1, "service", "ps", "-q", *services).split()
    out["task inspect"] = docker(1, "inspect", *tasks)
    for k in range(1, lab.size + 1):
        containers = docker(k, "ps", "-aq", "--filter", NAMESPACE).split()
        if containers:
            out[f"container inspect on lab-h{k}"] = docker(k, "inspect", *containers)
        for container in containers:  # what each Redis and Sentinel logged (stdout, stderr)
            out[f"logs of {container} on lab-h{k}"] = docker(k, "logs", container)
    configs = docker(1, "config", "ls", "-q", "--filter", NAMESPACE).split()
    assert configs
    for config in json.loads(docker(1, "config", "inspect", *configs)):
        data = base64.b64decode(config["Spec"].get("Data") or "").decode(errors="replace")
        out[f"config {config['Spec']['Name']}"] = json.dumps(config) + "\n" + data
    secrets = docker(1, "secret", "ls", "-q", "--filter", NAMESPACE).split()
    out["secret inspect"] = docker(1, "secret", "inspect", *secrets)
    store = ["--certs-dir", str(certs)]
    for args in (
        ("plan", str(stack_file), *store, "--json"),
        ("status", STACK, *store, "--json"),
        ("status", STACK, *store),
        ("users", str(stack_file), *store),
        ("deploy", str(stack_file), *store, "--json"),
    ):
        done = cli(*args, docker_host=lab.docker_host)
        out[f"swarmredis {' '.join(args[:1])}"] = done.stdout + done.stderr
    return out


def test_no_password_key_or_acl_hash_is_readable_outside_the_secrets(
    swarm_lab: SwarmLab, deployed: tuple[Path, Path, str]
) -> None:
    stack_file, certs, first_output = deployed
    secrets = _secrets(certs / STACK)
    assert any(v.startswith("password") for v in secrets.values())
    places = _readable(swarm_lab, stack_file, certs)
    places["swarmredis deploy (first)"] = first_output
    # the scan read the real things: configs decoded, logs, every host's containers
    assert any("aclfile /run/secrets/users.acl" in t for p, t in places.items() if "config" in p)
    assert any("Ready to accept connections" in t for p, t in places.items() if "logs" in p)
    assert sum(p.startswith("container inspect") for p in places) == swarm_lab.size
    leaks = [
        f"{what} in {place}"
        for place, text in places.items()
        for secret, what in secrets.items()
        if secret in text
    ]
    assert not leaks, leaks
