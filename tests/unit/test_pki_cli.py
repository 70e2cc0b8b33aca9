"""`swarmredis certs ...` and `swarmredis users` through the typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from swarmredis.cli import app, certs_cmd
from swarmredis.pki import manage
from swarmredis.pki.keys import KeyType, key_type_of

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
    code, users_json = cli("users", STACK, "--json")
    outputs.append(users_json)
    assert code == 0
    assert {u["user"] for u in json.loads(users_json)} >= {"web", "swarmredis-admin"}
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
    # `users` is a group now: `users list` by default, options before the file too
    assert cli("users", "list", STACK, "--show-password", "web") == (0, out)
    assert cli("users", "--show-password", "web", STACK) == (0, out)
    # during a rotation the previous password follows on a second line
    (certs / "users" / "web.previous.password").write_text("previous-secret\n")
    (certs / "users" / "web.previous.password").chmod(0o600)
    assert cli("users", STACK, "--show-password", "web") == (0, out + "previous-secret\n")
    code, out = cli("users", STACK, "--show-password", "default")
    assert code == 4 and "no user 'default' with a password" in out


def test_due_and_ca_rotation(certs: Path) -> None:
    cli("certs", "init", STACK)
    cli("certs", "issue", STACK)
    code, out = cli("certs", "due", STACK)
    assert code == 0 and "are current" in out
    code, out = cli("certs", "due", STACK, "--json")
    report = json.loads(out)
    assert report.pop("nodes_from").startswith("the stack file (")  # no Swarm here
    assert code == 0 and report == {"stack": "shop", "exit_code": 0, "due": []}
    code, out = cli("certs", "due", STACK, "--json", "--host-address", "node-2=10.0.0.7")
    assert code == 3
    report = json.loads(out)
    assert report.pop("nodes_from").startswith("the stack file (")
    assert report == {
        "stack": "shop",
        "exit_code": 3,
        "due": [
            {
                "kind": "node",
                "name": "node-2",
                "reasons": ["san-mismatch"],
                "path": str(certs / "nodes" / "node-2.crt"),
            }
        ],
    }
    code, out = cli("certs", "ca", "start", STACK, "--ca-days", "400")
    assert code == 0
    assert f"swarmredis certs ca finish {STACK}" in out and "rotate" not in out
    assert (certs / "ca.crt").read_text().count("BEGIN CERTIFICATE") == 2
    code, out = cli("certs", "status", STACK, "--json")
    ca = next(c for c in json.loads(out)["certificates"] if c["name"] == "ca")
    assert 399 <= ca["days_left"] <= 400
    code, out = cli("certs", "ca", "start", STACK)
    assert code == 4 and "already in progress" in out and "certs rotate" in out
    code, out = cli("certs", "due", STACK)
    assert code == 3 and out.count("previous-ca") == 9
    code, out = cli("certs", "ca", "finish", STACK)
    assert code == 4 and "not every certificate is signed by the new CA yet" in out
    cli("certs", "issue", STACK)
    assert cli("certs", "ca", "finish", STACK)[0] == 0
    assert (certs / "ca.crt").read_text().count("BEGIN CERTIFICATE") == 1
    code, out = cli("certs", "ca", "finish", STACK)
    assert code == 4 and "no CA rotation in progress" in out


def test_lifetimes_are_ca_days_and_leaf_days(certs: Path) -> None:
    assert cli("certs", "init", STACK, "--ca-days", "500")[0] == 0
    assert cli("certs", "issue", STACK, "--leaf-days", "20", "--renew-days", "10")[0] == 0
    code, out = cli("certs", "status", STACK, "--json")
    days = {c["name"]: c["days_left"] for c in json.loads(out)["certificates"]}
    assert 499 <= days["ca"] <= 500
    nodes = [d for name, d in days.items() if name.startswith("node-")]
    assert len(nodes) == 3 and all(19 <= d <= 20 for d in nodes)
    assert cli("certs", "issue", STACK, "--leaf-days", "0")[0] == 4  # below its minimum
    for old in (
        ("certs", "init", STACK, "--days", "5"),
        ("certs", "issue", STACK, "--days", "5"),
        ("certs", "rotate", STACK, "--plan"),
        ("certs", "ca", "start", STACK, "--leaf-days", "5"),
    ):
        code, out = cli(*old)
        assert code == 4, (old, out)


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


def test_the_cli_key_types_and_passphrase_variable_are_those_of_the_pki() -> None:
    """The CLI spells them itself (no cryptography for `--help`): they must not drift."""
    choices = [(c.name, c.value) for c in certs_cmd.KeyTypeChoice]
    assert choices == [(k.name, k.value) for k in KeyType]
    assert certs_cmd.PASSPHRASE_ENV == manage.PASSPHRASE_ENV


def ca_key_type(path: Path) -> KeyType:
    return key_type_of(x509.load_pem_x509_certificate(path.read_bytes()).public_key())


@pytest.mark.parametrize("key_type", list(KeyType), ids=str)
def test_key_type_reaches_the_ca_and_its_rotation(certs: Path, key_type: KeyType) -> None:
    other = KeyType.ED25519 if key_type is not KeyType.ED25519 else KeyType.ECDSA_P256
    code, out = cli("certs", "init", STACK, "--key-type", key_type.value)
    assert code == 0 and f"({key_type.value}, valid until" in out
    assert ca_key_type(certs / "ca-current.crt") is key_type
    assert cli("certs", "ca", "start", STACK, "--key-type", other.value)[0] == 0
    assert ca_key_type(certs / "ca-current.crt") is other
