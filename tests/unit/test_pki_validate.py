"""A bad file in the store is refused before any change, naming the file (issue 10).

Each case builds a real store on disk (the real cryptography library), spoils one file
and checks the error type, the file it names, the problem kind and, through the CLI,
that ``plan``/``deploy``/``status`` fail on the store before they try Docker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from swarmredis.errors import EXIT_USAGE, PKIError, StoreFileError
from swarmredis.pki import manage
from swarmredis.pki.ca import build_ca
from swarmredis.pki.keys import KeyType, generate_key, key_to_pem
from swarmredis.pki.leaf import issue_client, issue_server, server_names
from swarmredis.pki.material import stack_pki
from swarmredis.pki.model import StackPKI
from swarmredis.pki.store import CertStore
from swarmredis.pki.validate import check_store
from swarmredis.stackfile import load_stack

ROOT = Path(__file__).resolve().parents[2]
STACK_FILE = ROOT / "stacks" / "replication.yaml"  # stack "shop", user "web", 3 sentinels
NOW = datetime.now(UTC)
DAY = timedelta(days=1)
NOWHERE = "unix:///nonexistent/swarmredis-test/docker.sock"


@pytest.fixture
def spec() -> StackPKI:
    return stack_pki(load_stack(STACK_FILE))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: StackPKI) -> CertStore:
    """A complete, valid store of ``shop`` under ``tmp_path/certs`` (the working folder)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWARMREDIS_CA_PASSPHRASE", raising=False)
    store = CertStore(tmp_path / "certs", "shop", stack_file="shop.yaml")
    manage.init_ca(store, now=NOW)
    manage.issue(store, spec, now=NOW)
    return store


def put(store: CertStore, rel: str, data: bytes) -> None:
    path = store.root / rel
    path.write_bytes(data)
    os.chmod(path, 0o600)


def signer(store: CertStore) -> manage.CertKey:
    return manage.load_signer(store, lambda: None)


def corrupt_node_cert(store: CertStore) -> None:
    put(store, "nodes/node-1.crt", b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n")


def truncated_ca(store: CertStore) -> None:
    put(store, "ca-current.crt", store.ca_current.read_bytes()[:200])


def corrupt_client_key(store: CertStore) -> None:
    put(store, "clients/web.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def future_node_cert(store: CertStore) -> None:
    leaf = issue_server(
        signer(store), common_name="shop-node-2", names=server_names("shop-node-2"), now=NOW + DAY
    )
    put(store, "nodes/node-2.crt", manage.cert_pem([leaf.cert]))
    put(store, "nodes/node-2.key", key_to_pem(leaf.key))


def wrong_ca_client(store: CertStore) -> None:
    other = build_ca("shop", now=NOW)
    leaf = issue_client(other, user="web", now=NOW)
    put(store, "clients/web.crt", manage.cert_pem([leaf.cert]))
    put(store, "clients/web.key", key_to_pem(leaf.key))


def wrong_node_key(store: CertStore) -> None:
    put(store, "nodes/node-2.key", key_to_pem(generate_key(KeyType.ECDSA_P256)))


def wrong_ca_key(store: CertStore) -> None:
    put(store, "ca.key", key_to_pem(generate_key(KeyType.ECDSA_P256)))


def foreign_ca_in_bundle(store: CertStore) -> None:
    other = build_ca("shop", now=NOW)
    put(store, "ca.crt", store.ca_bundle.read_bytes() + manage.cert_pem([other.cert]))
    os.chmod(store.ca_bundle, 0o644)


def leaf_as_ca(store: CertStore) -> None:
    put(store, "ca-current.crt", (store.root / "nodes" / "node-1.crt").read_bytes())


def ca_gone(store: CertStore) -> None:
    store.ca_current.unlink()
    store.ca_key.unlink()


def ca_gone_entirely(store: CertStore) -> None:
    ca_gone(store)
    store.ca_bundle.unlink()


def password(data: bytes) -> Callable[[CertStore], None]:
    def spoil(store: CertStore) -> None:
        put(store, "users/replication.password", data)

    return spoil


GOOD_PASSWORD = b"A" * 43
PW = "users/replication.password"
CASES = {
    "corrupt certificate": (corrupt_node_cert, "nodes/node-1.crt", "unparsable"),
    "truncated CA certificate": (truncated_ca, "ca-current.crt", "unparsable"),
    "corrupt private key": (corrupt_client_key, "clients/web.key", "unparsable"),
    "not yet valid": (future_node_cert, "nodes/node-2.crt", "not-yet-valid"),
    "signed by another CA": (wrong_ca_client, "clients/web.crt", "untrusted"),
    "key of another certificate": (wrong_node_key, "nodes/node-2.key", "key-mismatch"),
    "CA key of another CA": (wrong_ca_key, "ca.key", "ca-key-mismatch"),
    "foreign CA trusted": (foreign_ca_in_bundle, "ca.crt", "foreign-ca"),
    "a leaf posing as the CA": (leaf_as_ca, "ca-current.crt", "not-a-ca"),
    "CA gone, bundle left": (ca_gone, "ca.crt", "no-ca"),
    "CA gone, leaves left": (ca_gone_entirely, "nodes/node-1.crt", "no-ca"),
    "empty password": (password(b""), PW, "bad-password"),
    "newline only": (password(b"\n"), PW, "bad-password"),
    "two lines": (password(GOOD_PASSWORD + b"\nx\n"), PW, "bad-password"),
    "trailing blank": (password(GOOD_PASSWORD + b" "), PW, "bad-password"),
    "CRLF": (password(GOOD_PASSWORD + b"\r\n"), PW, "bad-password"),
    "NUL byte": (password(b"abc\x00def"), PW, "bad-password"),
    "not UTF-8": (password(b"abc\xffdef"), PW, "bad-password"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_file_is_refused_naming_it(store: CertStore, case: str) -> None:
    spoil, rel, problem = CASES[case]
    spoil(store)
    with pytest.raises(StoreFileError, match=f"^certs/shop/{rel}: ") as caught:
        check_store(store, now=NOW)
    error = caught.value
    assert (error.path, error.problem, error.exit_code) == (f"certs/shop/{rel}", problem, 4)
    assert error.hint  # what to do
    assert error.to_dict()["path"] == f"certs/shop/{rel}"


def test_messages_say_what_is_wrong_without_showing_the_password(store: CertStore) -> None:
    secret = b"s3cr3t-" + b"x" * 30
    put(store, "users/web.password", secret + b"\t\n")
    with pytest.raises(StoreFileError, match=r"whitespace at byte 38") as caught:
        check_store(store, now=NOW)
    assert secret.decode() not in str(caught.value)
    put(store, "users/web.password", secret + b"\nsecond\n")
    with pytest.raises(StoreFileError, match=r"more than one line \(a line break at byte 38\)"):
        check_store(store, now=NOW)
    put(store, "users/web.password", b"caf\xc3\xa9")
    with pytest.raises(StoreFileError, match=r"non-ASCII byte 0xc3 at byte 4"):
        check_store(store, now=NOW)


def test_an_expired_ca_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = CertStore(tmp_path / "certs", "shop")
    manage.init_ca(store, now=NOW - 20 * DAY, days=10)
    with pytest.raises(StoreFileError, match=r"^certs/shop/ca-current.crt: the CA expired on "):
        check_store(store, now=NOW)


def test_a_good_store_an_empty_one_and_a_missing_one_pass(
    store: CertStore, tmp_path: Path, spec: StackPKI
) -> None:
    check_store(store, now=NOW)
    check_store(CertStore(tmp_path / "nowhere", "shop"), now=NOW)  # missing: deploy creates it
    (store.root / "nodes" / "node-1.crt").unlink()  # missing leaf: deploy issues it
    (store.root / "users" / "web.password").unlink()
    (store.root / "nodes" / ".node-2.key.abc.tmp").write_bytes(b"left by a killed run")
    check_store(store, now=NOW)
    report = manage.ensure_certs(store, spec, now=NOW)
    assert [c.name for c in report.issued] == ["node-1"] and report.new_passwords == ("web",)
    check_store(store, now=NOW)


def test_one_final_newline_is_accepted_and_not_part_of_the_password(store: CertStore) -> None:
    put(store, "users/web.password", GOOD_PASSWORD + b"\n")
    check_store(store, now=NOW)
    assert store.read_password("web") == GOOD_PASSWORD.decode()


def test_an_expired_leaf_is_not_refused_deploy_renews_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: StackPKI
) -> None:
    monkeypatch.chdir(tmp_path)
    store = CertStore(tmp_path / "certs", "shop")
    manage.init_ca(store, now=NOW - 100 * DAY)
    manage.issue(store, spec, now=NOW - 100 * DAY)  # 90-day leaves: all expired by NOW
    check_store(store, now=NOW)
    report = manage.ensure_certs(store, spec, now=NOW)
    assert len(report.issued) == 9


def test_an_encrypted_ca_key_is_checked_when_its_passphrase_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = CertStore(tmp_path / "certs", "shop")
    manage.init_ca(store, now=NOW, passphrase=b"pass-phrase")
    monkeypatch.delenv("SWARMREDIS_CA_PASSPHRASE", raising=False)
    check_store(store, now=NOW)  # no passphrase: cannot look inside, signing will ask
    monkeypatch.setenv("SWARMREDIS_CA_PASSPHRASE", "wrong")
    with pytest.raises(StoreFileError, match=r"^certs/shop/ca.key: not a readable private key"):
        check_store(store, now=NOW)
    monkeypatch.setenv("SWARMREDIS_CA_PASSPHRASE", "pass-phrase")
    check_store(store, now=NOW)


def test_a_ca_certificate_without_its_key_is_refused(store: CertStore) -> None:
    store.ca_key.unlink()
    with pytest.raises(PKIError, match=r"^certs/shop/ca.key: missing while "):
        check_store(store, now=NOW)


# -- through the CLI: the store is refused before Docker is tried -----------------------


def swarmredis(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": NOWHERE, "HOME": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "swarmredis", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=env,
    )


COMMANDS = {
    "plan": ("plan", str(STACK_FILE), "--certs-dir", "certs"),
    "deploy": ("deploy", str(STACK_FILE), "--certs-dir", "certs"),
    "status": ("status", "shop", "--certs-dir", "certs"),
}


@pytest.mark.parametrize("command", COMMANDS)
def test_the_cli_refuses_the_store_before_trying_docker(
    store: CertStore, tmp_path: Path, command: str
) -> None:
    args = COMMANDS[command]
    # with a good store the same command reaches for Docker: the socket does not exist
    reached = swarmredis(tmp_path, *args)
    assert reached.returncode == EXIT_USAGE
    assert f"no Docker engine reachable at {NOWHERE}" in reached.stderr
    wrong_node_key(store)
    result = swarmredis(tmp_path, *args)
    assert result.returncode == EXIT_USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(
        "error: certs/shop/nodes/node-2.key: does not belong to certs/shop/nodes/node-2.crt"
    )
    assert "Docker" not in result.stderr and result.stdout == ""


def test_the_cli_json_error_carries_the_path_and_problem(store: CertStore, tmp_path: Path) -> None:
    put(store, "users/sentinel.password", b"")
    result = swarmredis(tmp_path, "plan", str(STACK_FILE), "--certs-dir", "certs", "--json")
    assert result.returncode == EXIT_USAGE
    error = json.loads(result.stderr)
    assert error["error"] == "StoreFileError"
    path = "certs/shop/users/sentinel.password"
    assert (error["path"], error["problem"]) == (path, "bad-password")
    assert error["message"] == "certs/shop/users/sentinel.password: empty"


def test_users_refuses_a_tampered_password_file(store: CertStore, tmp_path: Path) -> None:
    put(store, "users/web.password", GOOD_PASSWORD + b"\nroot\n")
    result = swarmredis(tmp_path, "users", str(STACK_FILE), "--certs-dir", "certs")
    assert result.returncode == EXIT_USAGE
    assert result.stderr.startswith("error: certs/shop/users/web.password: more than one line")
