"""The file store: modes, atomic writes, errors that name the file and what to do."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from swarmredis.errors import PKIError
from swarmredis.pki import store as store_module
from swarmredis.pki.store import CertStore, atomic_write, resolve_base


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_layout_and_modes(tmp_path: Path) -> None:
    store = CertStore(tmp_path / "certs", "acme")
    store.write(store.node_key("node-1"), b"KEY", secret=True)
    store.write(store.node_cert("node-1"), b"CERT", secret=False)
    assert store.node_key("node-1") == tmp_path / "certs/acme/nodes/node-1.key"
    assert store.client_cert("app") == tmp_path / "certs/acme/clients/app.crt"
    assert store.password_file("app") == tmp_path / "certs/acme/users/app.password"
    for directory in ("", "nodes", "clients", "users"):
        assert mode(store.root / directory) == 0o700
    assert mode(store.node_key("node-1")) == 0o600
    assert mode(store.node_cert("node-1")) == 0o644


def test_existing_store_directory_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir(mode=0o755)
    os.chmod(tmp_path / "acme", 0o755)
    CertStore(tmp_path, "acme").ensure_dirs()
    assert mode(tmp_path / "acme") == 0o700


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "f.key"
    target.write_bytes(b"old")
    atomic_write(target, b"new", 0o600)
    assert target.read_bytes() == b"new"
    assert mode(target) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.key"]


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f.key"
    target.write_bytes(b"old")

    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write(target, b"new", 0o600)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.key"]


def test_errors_name_the_file_and_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = CertStore(Path("certs"), "acme", stack_file="stacks/acme.yaml")
    with pytest.raises(PKIError) as error:
        store.read(store.ca_key)
    assert str(error.value) == (
        "certs/acme/ca.key: missing (run `swarmredis certs init stacks/acme.yaml`)"
    )
    with pytest.raises(PKIError, match=r"nodes/node-1.crt: missing .*certs issue stacks/acme"):
        store.read_cert(store.node_cert("node-1"))
    store.write(store.ca_current, b"not pem", secret=False)
    with pytest.raises(PKIError, match=r"ca-current\.crt: not a PEM certificate"):
        store.read_cert(store.ca_current)


def test_secrets_readable_by_others_are_refused(tmp_path: Path) -> None:
    store = CertStore(tmp_path, "acme")
    store.write(store.password_file("app"), b"pw\n", secret=True)
    assert store.read_password("app") == "pw"
    os.chmod(store.password_file("app"), 0o644)
    with pytest.raises(PKIError, match=r"mode 0644 .*chmod 600"):
        store.read_password("app")


def test_base_directory_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SWARMREDIS_CERTS_DIR", raising=False)
    assert resolve_base() == Path("certs")
    monkeypatch.setenv("SWARMREDIS_CERTS_DIR", str(tmp_path))
    assert resolve_base() == tmp_path
    assert resolve_base("/x") == Path("/x")


@pytest.mark.parametrize("name", ["", "a/b", "..", ".hidden"])
def test_unsafe_stack_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(PKIError, match="is not a usable stack name for the certificate store"):
        CertStore(tmp_path, name)
