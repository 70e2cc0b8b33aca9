"""`swarmredis plan` through the typer app, with an in-memory Docker gateway."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from test_stackfile_errors import BAD
from typer.testing import CliRunner

from swarmredis.cli import app
from swarmredis.engine.flows import moves as flows_moves
from swarmredis.errors import ObjectNotFound
from swarmredis.pki.store import CertStore
from swarmredis.plan.slots import PlannedMoves, SlotMove
from swarmredis.stackfile import load_stack

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def raw_node(i: int) -> dict[str, Any]:
    return {
        "ID": f"node{i}",
        "Spec": {
            "Role": "manager" if i == 1 else "worker",
            "Availability": "active",
            "Labels": {"zone": f"z{i}", "redis": "true"},
        },
        "Description": {"Hostname": f"lab-h{i}"},
        "Status": {"State": "ready", "Addr": f"10.20.0.{i}"},
    }


class FakeGateway:
    """The reads `plan` makes, answered from memory (raw API dicts)."""

    def __init__(self, nodes: list[dict[str, Any]], objects: Mapping[str, list[Any]]) -> None:
        self._nodes = nodes
        self._objects = objects
        self.listed: list[tuple[str, str | None]] = []

    @asynccontextmanager
    async def connect(self, docker_host: str | None = None) -> AsyncIterator[FakeGateway]:
        yield self

    async def require_manager(self) -> dict[str, Any]:
        return {"Swarm": {"LocalNodeState": "active", "ControlAvailable": True}}

    async def nodes(self) -> list[dict[str, Any]]:
        return self._nodes

    async def list(self, kind: str, stack: str | None = None) -> list[dict[str, Any]]:
        self.listed.append((kind, stack))
        return list(self._objects.get(kind, []))

    async def inspect(self, kind: str, ident: str) -> dict[str, Any]:
        for raw in self._objects.get(kind, []):
            if ident in (raw.get("ID"), (raw.get("Spec") or {}).get("Name")):
                return dict(raw)
        raise ObjectNotFound(f"{kind} {ident}: not found", status=404)


@pytest.fixture
def nodes() -> list[dict[str, Any]]:
    return [raw_node(i) for i in (1, 2, 3)]


def use(monkeypatch: pytest.MonkeyPatch, gateway: FakeGateway) -> None:
    # plan_cmd imports the gateway when the command runs, from its module
    monkeypatch.setattr("swarmredis.gateway.docker.DockerGateway", gateway)


@pytest.mark.parametrize(("text", "expected"), BAD[:12], ids=[t for t, _ in BAD[:12]])
def test_bad_stack_file_exits_4_with_its_message(
    tmp_path: Path, text: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, FakeGateway([], {}))
    stack_file = tmp_path / "x.yaml"
    stack_file.write_text(text)
    result = runner.invoke(app, ["plan", str(stack_file)])
    assert result.exit_code == 4
    assert f"{stack_file}: {expected}" in result.stderr
    assert "Traceback" not in result.stderr


def test_fresh_swarm_without_certificates_lists_creates_and_exits_3(
    tmp_path: Path, nodes: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = FakeGateway(nodes, {})
    use(monkeypatch, gateway)
    args = ["plan", str(ROOT / "stacks/cluster.yaml"), "--json", "--certs-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.stderr
    plan = json.loads(result.stdout)
    assert plan["stack"] == "acme"
    assert [row["hostname"] for row in plan["assignment"]] == [
        "lab-h1",
        "lab-h2",
        "lab-h3",
        "lab-h2",
        "lab-h3",
        "lab-h1",
    ]
    assert plan["slots"] == {"node-1": [0, 5461], "node-2": [5462, 10922], "node-3": [10923, 16383]}
    actions = {(a["kind"], a["action"]) for a in plan["actions"]}
    assert actions == {
        ("network", "create"),
        ("config", "create"),
        ("secret", "pending"),
        ("service", "pending"),
    }
    assert "ca.crt" in plan["missing_material"]
    assert ("service", "acme") in gateway.listed


def test_table_output_names_hosts_and_pending_secrets(
    tmp_path: Path, nodes: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, FakeGateway(nodes, {}))
    result = runner.invoke(
        app, ["plan", str(ROOT / "stacks/cluster.yaml"), "--certs-dir", str(tmp_path)]
    )
    assert result.exit_code == 3
    assert "lab-h3" in result.stdout
    assert "swarmredis certs issue" in result.stdout


RECORDED = ROOT / "tests/cases/replan-same-nodes-noop"


def recorded_deploy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Swarm objects and certificate store a real deploy on the lab left behind
    (scripts/record-cases), not the planner's own output, behind the fake gateway."""
    recorded = json.loads((RECORDED / "observed.json").read_text())
    store = CertStore(tmp_path, load_stack(RECORDED / "stack.yaml").name)
    for name, data in recorded["store"].items():
        secret = name.endswith((".key", ".password"))
        store.write(store.root / name, base64.b64decode(data), secret=secret)
    use(monkeypatch, FakeGateway(recorded["nodes"], recorded["objects"]))


def test_recorded_deploy_plans_nothing_and_exits_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded_deploy(tmp_path, monkeypatch)
    args = ["plan", str(RECORDED / "stack.yaml"), "--json", "--certs-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    assert plan["changes"] == 0
    assert len(plan["actions"]) == 28
    assert {a["action"] for a in plan["actions"]} == {"noop"}
    assert all(row["kept"] for row in plan["assignment"])


def test_a_fourth_shard_on_the_recorded_deploy_plans_only_its_two_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """shards: 3 -> 4: node-7 and node-8 (new names; node-4 stays shard 1's replica) and
    their configs are created, their certificates and services pending (``deploy``
    issues the certificates), and every recorded object stays as it is."""
    recorded_deploy(tmp_path, monkeypatch)
    read: list[str] = []

    async def moves_read_from_the_nodes(gateway: Any, plan: Any, store: Any) -> PlannedMoves:
        read.append(plan.desired.stack.name)  # the nodes are not here: tested on the lab
        return PlannedMoves((SlotMove("node-1", "node-7", ((4096, 5461),)),))

    monkeypatch.setattr(flows_moves, "planned_moves", moves_read_from_the_nodes)
    grown = tmp_path / "grown.yaml"
    grown.write_text((RECORDED / "stack.yaml").read_text().replace("shards: 3", "shards: 4"))
    assert "shards: 4" in grown.read_text()
    result = runner.invoke(app, ["plan", str(grown), "--json", "--certs-dir", str(tmp_path)])
    assert result.exit_code == 3, result.stdout + result.stderr
    plan = json.loads(result.stdout)
    changed = sorted(f"{a['action']} {a['kind']}:{a['logical']}" for a in plan["actions"])
    changed = [c for c in changed if not c.startswith("noop")]
    assert changed == [
        "create config:redis-node-7.conf",
        "create config:redis-node-8.conf",
        "pending secret:node-7.crt",  # deploy issues them; plan issues nothing
        "pending secret:node-7.key",
        "pending secret:node-8.crt",
        "pending secret:node-8.key",
        "pending service:node-7",  # waiting for its certificate
        "pending service:node-8",
    ]
    rows = {row["node"]: row for row in plan["assignment"]}
    assert (rows["node-7"]["role"], rows["node-7"]["shard"]) == ("primary", 4)
    assert (rows["node-4"]["role"], rows["node-4"]["shard"]) == ("replica", 1)
    assert rows["node-8"]["primary"] == "node-7"
    assert rows["node-7"]["domain"] != rows["node-8"]["domain"]  # a shard's pair apart
    assert all(rows[f"node-{i}"]["kept"] for i in range(1, 7))
    assert read == ["reccase"]  # a new shard on a live cluster: the moves are read
    assert plan["slot_moves"] == [
        {"source": "node-1", "target": "node-7", "slots": 1366, "ranges": "4096-5461"}
    ]
    table = runner.invoke(app, ["plan", str(grown), "--certs-dir", str(tmp_path)])
    assert table.exit_code == 3
    assert "1366 slot(s) move for even shares:" in table.stdout
    assert "1366 slots node-1 -> node-7: 4096-5461" in table.stdout


def test_impossible_placement_exits_4(
    tmp_path: Path, nodes: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, FakeGateway(nodes[:1], {}))
    stack_file = ROOT / "stacks/cluster.yaml"
    result = runner.invoke(app, ["plan", str(stack_file), "--certs-dir", str(tmp_path)])
    assert result.exit_code == 4
    assert "needs 2 spread domains (node.labels.zone)" in result.stderr
    assert "only 1 are available: z1" in result.stderr
    allowed = runner.invoke(
        app, ["plan", str(stack_file), "--certs-dir", str(tmp_path), "--allow-colocation"]
    )
    assert allowed.exit_code == 3
    assert "share spread domain" in allowed.stdout
