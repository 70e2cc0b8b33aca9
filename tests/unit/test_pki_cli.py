"""`swarmredis certs ...` and `swarmredis users` through the typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmredis.cli import app

ROOT = Path(__file__).resolve().parents[2]
STACK = str(ROOT / "stacks" / "replication.yaml")  # stack "shop", user "web", 3 sentinels
runner = CliRunner()


@pytest.fixture
def certs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SWARMREDIS_CERTS_DIR", str(tmp_path / "certs"))
    monkeypatch.delenv("SWARMREDIS_CA_PASSPHRASE", raising=False)
    return tmp_path / "certs" / "shop"


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def secrets_of(store: Path) -> list[str]:
    return [p.read_text().strip() for p in (store / "users").iterdir()] + [
        p.read_text() for p in store.rglob("*.key")
    ]


def test_init_issue_status_and_nothing_leaks(certs: Path) -> None:
    outputs = []
    for args in (
        ("certs", "init", STACK),
        ("certs", "init", STACK),
        ("certs", "issue", STACK),
        ("certs", "issue", STACK),
    ):
        code, out = cli(*args)
        assert code == 0, out
        outputs.append(out)
    assert "created CA" in outputs[0] and "nothing changed" in outputs[1]
    assert "9 issued, 0 unchanged" in outputs[2]
    assert "0 issued, 9 unchanged" in outputs[3]
    code, out = cli("certs", "status", STACK, "--json")
    assert code == 0
    status = json.loads(out)
    assert status["exit_code"] == 0 and len(status["certificates"]) == 10
    node = next(c for c in status["certificates"] if c["name"] == "node-1")
    assert node["sans"] == ["DNS:shop-node-1", "DNS:localhost", "IP:127.0.0.1"]
    code, users = cli("users", STACK)
    outputs += [out, users]
    assert code == 0 and "web" in users and "+psync" in users
    for secret in secrets_of(certs):
        assert all(secret not in o for o in outputs)


def test_status_exit_codes(certs: Path) -> None:
    cli("certs", "init", STACK)
    assert cli("certs", "status", STACK)[0] == 2  # leaves missing
    cli("certs", "issue", STACK)
    assert cli("certs", "status", STACK)[0] == 0
    assert cli("certs", "status", STACK, "--warn-days", "100")[0] == 1
    (certs / "clients" / "web.crt").unlink()
    code, out = cli("certs", "status", STACK)
    assert code == 2 and "missing" in out


def test_show_password_prints_only_the_password(certs: Path) -> None:
    cli("certs", "init", STACK)
    cli("certs", "issue", STACK)
    code, out = cli("users", STACK, "--show-password", "web")
    assert code == 0
    assert out == (certs / "users" / "web.password").read_text().strip() + "\n"
    code, out = cli("users", STACK, "--show-password", "default")
    assert code == 4 and "no user 'default' with a password" in out


def test_rotate_plan_and_ca_rotation(certs: Path) -> None:
    cli("certs", "init", STACK)
    cli("certs", "issue", STACK)
    assert cli("certs", "rotate", STACK, "--plan")[0] == 0
    code, out = cli(
        "certs", "rotate", STACK, "--plan", "--json", "--host-address", "node-2=10.0.0.7"
    )
    assert code == 3
    assert json.loads(out) == [
        {
            "kind": "node",
            "name": "node-2",
            "reasons": ["san-mismatch"],
            "path": str(certs / "nodes" / "node-2.crt"),
        }
    ]
    code, out = cli("certs", "rotate", STACK, "--ca")
    assert code == 0 and "--finish" in out
    assert (certs / "ca.crt").read_text().count("BEGIN CERTIFICATE") == 2
    code, out = cli("certs", "rotate", STACK, "--plan")
    assert code == 3 and out.count("previous-ca") == 9
    assert cli("certs", "rotate", STACK, "--finish")[0] == 4
    cli("certs", "issue", STACK)
    assert cli("certs", "rotate", STACK, "--finish")[0] == 0
    assert (certs / "ca.crt").read_text().count("BEGIN CERTIFICATE") == 1
    assert cli("certs", "rotate", STACK)[0] == 4  # no mode chosen


def test_encrypted_ca_key_needs_the_passphrase(
    certs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWARMREDIS_CA_PASSPHRASE", "correct horse")
    assert cli("certs", "init", STACK, "--key-type", "ed25519")[0] == 0
    assert "ENCRYPTED" in (certs / "ca.key").read_text()
    monkeypatch.delenv("SWARMREDIS_CA_PASSPHRASE")
    code, out = cli("certs", "issue", STACK)
    assert code == 4 and "ca.key: the key is encrypted" in out
    monkeypatch.setenv("SWARMREDIS_CA_PASSPHRASE", "wrong")
    assert "wrong passphrase" in cli("certs", "issue", STACK)[1]
    monkeypatch.setenv("SWARMREDIS_CA_PASSPHRASE", "correct horse")
    assert cli("certs", "issue", STACK)[0] == 0


def test_name_constraints_from_the_command_line(certs: Path) -> None:
    code, _ = cli("certs", "init", STACK, "--name-constraints", "--permit-ip", "10.0.0.0/24")
    assert code == 0
    assert cli("certs", "issue", STACK, "--host-address", "node-1=10.0.0.9")[0] == 0
    code, out = cli("certs", "issue", STACK, "--host-address", "node-1=192.0.2.1")
    assert code == 4 and "do not allow '192.0.2.1'" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("certs", "issue", STACK, "--host-address", "node-1"), "write NODE=ADDRESS"),
        (("certs", "issue", STACK, "--host-address", "node-9=10.0.0.1"), "unknown nodes: node-9"),
        (("certs", "issue", STACK), "ca-current.crt: missing"),
        (("certs", "init", STACK, "--permit-ip", "10.0.0.0/8"), "only makes sense with"),
        (("certs", "status", "nope.yaml"), "nope.yaml"),
    ],
)
def test_errors_are_one_line_with_exit_4(certs: Path, args: tuple[str, ...], message: str) -> None:
    code, out = cli(*args)
    assert code == 4
    assert message in out and "Traceback" not in out
