"""`swarmredis plan` against the real lab Swarm (3 hosts, zones z1..z3, label redis=true)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from swarmredis.pki.manage import ensure_certs
from swarmredis.pki.material import stack_pki
from swarmredis.pki.store import CertStore
from swarmredis.stackfile import load_stack

from .conftest import SwarmLab
from .helpers import cli, stack_copy


def issue_certs(stack_file: Path, certs: Path) -> None:
    stack = load_stack(stack_file)
    ensure_certs(
        CertStore(certs, stack.name),
        stack_pki(stack),
        now=datetime.now(UTC),
        passphrase=lambda: None,
    )


def plan_json(stack_file: Path, certs: Path, lab: SwarmLab) -> tuple[int, dict[str, Any]]:
    result = cli(
        "plan", str(stack_file), "--json", "--certs-dir", str(certs), docker_host=lab.docker_host
    )
    assert result.returncode in (0, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_plan_on_an_empty_stack_creates_everything_across_the_zones(
    swarm_lab: SwarmLab, tmp_path: Path
) -> None:
    stack_file = stack_copy(tmp_path, "cluster", "plantest", 7600)
    issue_certs(stack_file, tmp_path / "certs")
    code, plan = plan_json(stack_file, tmp_path / "certs", swarm_lab)
    assert code == 3
    assert {a["action"] for a in plan["actions"]} == {"create"}
    kinds = [a["kind"] for a in plan["actions"]]
    assert kinds.count("service") == 6
    assert kinds.count("config") == 6
    assert kinds.count("network") == 1
    assert plan["changes"] == len(plan["actions"])
    rows = {row["node"]: row for row in plan["assignment"]}
    assert {row["hostname"] for row in rows.values()} == {f"lab-h{k}" for k in (1, 2, 3)}
    for shard in (1, 2, 3):
        primary, replica = rows[f"node-{shard}"], rows[f"node-{3 + shard}"]
        assert primary["domain"] != replica["domain"]
        assert primary["domain"] in {"z1", "z2", "z3"}
    assert [rows[f"node-{k}"]["address"] for k in (1, 2, 3)] == [
        swarm_lab.addr(k) for k in (1, 2, 3)
    ]
    assert plan["slots"]["node-1"] == [0, 5461]


def test_plan_without_certificates_reports_them_as_pending(
    swarm_lab: SwarmLab, tmp_path: Path
) -> None:
    stack_file = stack_copy(tmp_path, "cluster", "plannocerts", 7600)
    result = cli(
        "plan",
        str(stack_file),
        "--certs-dir",
        str(tmp_path / "none"),
        docker_host=swarm_lab.docker_host,
    )
    assert result.returncode == 3, result.stderr
    assert "swarmredis certs issue" in result.stdout
    for k in (1, 2, 3):
        assert f"lab-h{k}" in result.stdout


def test_impossible_anti_affinity_exits_4_before_any_change(
    swarm_lab: SwarmLab, tmp_path: Path
) -> None:
    stack_file = stack_copy(tmp_path, "cluster", "planwide", 7600)
    data = yaml.safe_load(stack_file.read_text())
    data["replicas"] = 3  # 4 members per shard, 3 zones
    stack_file.write_text(yaml.safe_dump(data))
    result = cli(
        "plan", str(stack_file), "--certs-dir", str(tmp_path), docker_host=swarm_lab.docker_host
    )
    assert result.returncode == 4  # PlacementError
    assert "needs 4 spread domains (node.labels.zone)" in result.stderr
    assert "only 3 are available: z1, z2, z3" in result.stderr


def test_plan_right_after_deploy_has_nothing_to_do(swarm_lab: SwarmLab, tmp_path: Path) -> None:
    stack_file = stack_copy(tmp_path, "cluster", "planafter", 7600)
    certs = tmp_path / "certs"
    try:
        deployed = cli(
            "deploy",
            str(stack_file),
            "--certs-dir",
            str(certs),
            "--quiet",
            docker_host=swarm_lab.docker_host,
            timeout=600,
        )
        assert deployed.returncode == 0, deployed.stderr
        code, plan = plan_json(stack_file, certs, swarm_lab)
        assert (code, plan["changes"]) == (0, 0)
        assert {a["action"] for a in plan["actions"]} == {"noop"}
        assert all(row["kept"] for row in plan["assignment"])
    finally:
        swarm_lab.docker(1, "stack", "rm", "planafter")
