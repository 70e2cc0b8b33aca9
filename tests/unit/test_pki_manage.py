"""Store operations: init, idempotent issue, renewal, CA rotation, status, material."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from swarmredis.errors import PKIError
from swarmredis.pki import acl, manage
from swarmredis.pki.leaf import Reason, issued_by
from swarmredis.pki.material import build_material, load_admin_credentials, stack_pki
from swarmredis.pki.model import ServerNode, StackPKI
from swarmredis.pki.status import State, exit_code
from swarmredis.pki.store import CertStore
from swarmredis.stackfile import parse_stack

NOW = datetime(2030, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def make_spec(*, sentinels: bool = True, addresses: tuple[str, ...] = ()) -> StackPKI:
    nodes = [
        ServerNode("node-1", "acme-node-1", "redis", addresses),
        ServerNode("node-2", "acme-node-2"),
    ]
    if sentinels:
        nodes.append(ServerNode("sentinel-1", "acme-sentinel-1", "sentinel"))
    app = acl.stack_user("app", ["app:*"], [], ["+@read"])
    return StackPKI("acme", tuple(nodes), (app,), sentinels=sentinels)


@pytest.fixture
def store(tmp_path: Path) -> CertStore:
    return CertStore(tmp_path / "certs", "acme", stack_file="acme.yaml")


def snapshot(store: CertStore) -> dict[str, bytes]:
    return {
        str(p.relative_to(store.root)): p.read_bytes()
        for p in sorted(store.root.rglob("*"))
        if p.is_file()
    }


def test_init_then_issue_creates_the_documented_layout(store: CertStore) -> None:
    spec = make_spec()
    assert manage.init_ca(store, now=NOW) is True
    report = manage.issue(store, spec, now=NOW)
    assert sorted(snapshot(store)) == [
        "ca-current.crt",
        "ca.crt",
        "ca.key",
        "clients/app.crt",
        "clients/app.key",
        "clients/monitor.crt",
        "clients/monitor.key",
        "clients/swarmredis-admin.crt",
        "clients/swarmredis-admin.key",
        "nodes/node-1.crt",
        "nodes/node-1.key",
        "nodes/node-2.crt",
        "nodes/node-2.key",
        "nodes/sentinel-1.crt",
        "nodes/sentinel-1.key",
        "users/app.password",
        "users/monitor.password",
        "users/replication.password",
        "users/sentinel.password",
        "users/swarmredis-admin.password",
    ]
    assert {c.name for c in report.issued} == {
        "node-1",
        "node-2",
        "sentinel-1",
        "app",
        "monitor",
        "swarmredis-admin",
    }
    assert all(c.reasons == (Reason.MISSING,) for c in report.issued)
    assert set(report.new_passwords) == {
        "app",
        "monitor",
        "replication",
        "sentinel",
        "swarmredis-admin",
    }
    ca = store.read_cert(store.ca_current)
    for check in report.issued:
        assert issued_by(store.read_cert(check.cert_path), ca)
    assert store.read(store.ca_bundle) == store.read(store.ca_current)


def test_issue_again_changes_nothing(store: CertStore) -> None:
    spec = make_spec()
    manage.init_ca(store, now=NOW)
    manage.issue(store, spec, now=NOW)
    before = snapshot(store)
    assert manage.init_ca(store, now=NOW + DAY) is False
    report = manage.issue(store, spec, now=NOW + 10 * DAY)
    assert report.issued == () and report.new_passwords == ()
    assert snapshot(store) == before


def test_only_leaves_inside_the_window_or_changed_are_reissued(store: CertStore) -> None:
    spec = make_spec()
    manage.init_ca(store, now=NOW)
    manage.issue(store, spec, now=NOW)
    later = NOW + 61 * DAY  # 29 days left: inside the 30-day window
    store.remove(store.client_cert("app"))
    report = manage.issue(store, make_spec(addresses=("10.0.0.5",)), now=NOW + 5 * DAY)
    assert {(c.name, c.reasons) for c in report.issued} == {
        ("node-1", (Reason.SAN_MISMATCH,)),
        ("app", (Reason.MISSING,)),
    }
    report = manage.issue(store, make_spec(addresses=("10.0.0.5",)), now=later)
    assert {c.name for c in report.issued} == {
        "node-2",
        "sentinel-1",
        "monitor",
        "swarmredis-admin",
    }
    assert all(c.reasons == (Reason.EXPIRING,) for c in report.issued)


def test_missing_ca_is_an_error_that_says_what_to_run(store: CertStore) -> None:
    with pytest.raises(PKIError, match=r"ca-current.crt: missing .*certs init acme.yaml"):
        manage.issue(store, make_spec(), now=NOW)
    manage.init_ca(store, now=NOW)
    store.remove(store.ca_key)
    with pytest.raises(PKIError, match=r"ca.key: missing while .*ca-current.crt exists"):
        manage.init_ca(store, now=NOW)


def test_encrypted_ca_key_asks_for_the_passphrase_only_when_signing(store: CertStore) -> None:
    spec = make_spec()
    manage.init_ca(store, now=NOW, passphrase=b"pass phrase")
    assert b"ENCRYPTED PRIVATE KEY" in store.read(store.ca_key)
    asked: list[int] = []

    def passphrase() -> bytes:
        asked.append(1)
        return b"pass phrase"

    manage.issue(store, spec, now=NOW, passphrase=passphrase)
    manage.issue(store, spec, now=NOW, passphrase=passphrase)
    assert asked == [1]
    store.remove(store.client_cert("app"))
    with pytest.raises(PKIError, match=r"ca\.key: the key is encrypted"):
        manage.issue(store, spec, now=NOW, passphrase=lambda: None)
    with pytest.raises(PKIError, match="wrong passphrase"):
        manage.issue(store, spec, now=NOW, passphrase=lambda: b"nope")


def test_status_and_exit_codes_follow_the_clock(store: CertStore) -> None:
    spec = make_spec(sentinels=False)
    manage.init_ca(store, now=NOW)
    manage.issue(store, spec, now=NOW)
    infos = manage.store_status(store, spec, now=NOW + DAY)
    assert [(i.kind, i.name) for i in infos] == [
        ("ca", "ca"),
        ("node", "node-1"),
        ("node", "node-2"),
        ("client", "swarmredis-admin"),
        ("client", "monitor"),
        ("client", "app"),
    ]
    node = infos[1]
    assert node.sans == ("DNS:acme-node-1", "DNS:localhost", "IP:127.0.0.1")
    assert node.subject == "CN=acme-node-1,O=swarmredis"
    assert node.days_left == 89 and node.state is State.OK
    assert infos[0].days_left == 3649
    assert exit_code(infos) == 0
    assert exit_code(manage.store_status(store, spec, now=NOW + 60 * DAY + 1 * DAY)) == 1
    assert exit_code(manage.store_status(store, spec, now=NOW + 90 * DAY)) == 2
    store.remove(store.node_cert("node-2"))
    infos = manage.store_status(store, spec, now=NOW)
    assert infos[2].state is State.MISSING and exit_code(infos) == 2
    assert infos[2].as_dict()["state"] == "missing"


def test_ensure_certs_creates_everything_once(store: CertStore) -> None:
    spec = make_spec()
    first = manage.ensure_certs(store, spec, now=NOW, passphrase=lambda: None)
    assert len(first.issued) == 6
    before = snapshot(store)
    assert manage.ensure_certs(store, spec, now=NOW).issued == ()
    assert snapshot(store) == before


def test_material_has_the_contracted_logical_names(store: CertStore) -> None:
    spec = make_spec()
    manage.ensure_certs(store, spec, now=NOW)
    material = build_material(store, spec)
    assert sorted(material) == [
        "ca.crt",
        "node-1.crt",
        "node-1.key",
        "node-2.crt",
        "node-2.key",
        "replication-auth.conf",
        "sentinel-1.crt",
        "sentinel-1.key",
        "sentinel-auth.conf",
        "users.acl",
    ]
    replication_pw = store.read_password("replication")
    assert material["replication-auth.conf"] == (
        f"masteruser replication\nmasterauth {replication_pw}\n".encode()
    )
    admin_pw = store.read_password("swarmredis-admin")
    assert admin_pw.encode() not in material["users.acl"]
    assert acl.password_hash(admin_pw).encode() in material["users.acl"]
    sentinel_conf = material["sentinel-auth.conf"].decode()
    assert f"sentinel auth-pass acme {store.read_password('sentinel')}" in sentinel_conf
    assert material["node-1.key"] == store.read(store.node_key("node-1"))
    no_sentinels = make_spec(sentinels=False)
    assert "sentinel-auth.conf" not in build_material(store, no_sentinels)


def test_admin_credentials_hide_the_password_in_repr(store: CertStore) -> None:
    with pytest.raises(PKIError, match=r"ca\.crt: missing"):
        load_admin_credentials(store)
    manage.ensure_certs(store, make_spec(), now=NOW)
    creds = load_admin_credentials(store)
    assert creds.username == "swarmredis-admin"
    assert creds.cert_path == store.client_cert("swarmredis-admin")
    assert creds.password == store.read_password("swarmredis-admin")
    assert creds.password not in repr(creds)


def test_pki_spec_from_a_stack_file() -> None:
    stack = parse_stack(
        "name: shop\nmode: replication\nreplicas: 1\nannounce: host\n"
        "acl:\n  users:\n    - {name: web, keys: ['s:*'], commands: ['+@read']}\n"
    )
    spec = stack_pki(stack, {"node-2": ["10.0.0.9"]})
    assert [(n.name, n.alias, n.kind) for n in spec.nodes][:2] == [
        ("node-1", "shop-node-1", "redis"),
        ("node-2", "shop-node-2", "redis"),
    ]
    assert spec.nodes[-1].kind == "sentinel"
    assert spec.sentinels
    assert x509.IPAddress(ipaddress.ip_address("10.0.0.9")) in spec.nodes[1].names()
    assert [u.name for u in spec.users] == ["web"]
    assert spec.users[0].keys == ("s:*",)
    with pytest.raises(PKIError, match="unknown nodes: node-9"):
        stack_pki(stack, {"node-9": ["10.0.0.1"]})
    cluster = stack_pki(parse_stack("name: acme\n"))
    assert not cluster.sentinels and len(cluster.nodes) == 6


def test_exports_are_sorted_and_complete() -> None:
    import swarmredis.pki as pki

    assert pki.__all__ == sorted(pki.__all__)
    for name in pki.__all__:
        assert hasattr(pki, name), name


def test_issue_without_a_ca_creates_nothing(store: CertStore) -> None:
    with pytest.raises(PKIError, match=r"ca-current.crt: missing \(run `swarmredis certs init"):
        manage.issue(store, make_spec(), now=NOW)
    assert not store.root.exists()
