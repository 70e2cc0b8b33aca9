"""The generated PKI against real peers: ``openssl verify`` and local ``redis-server``s
running the product's redis.conf, users.acl and certificates (``product``, ``servers``).

Needs the ``openssl`` and ``redis-server`` binaries (Debian: openssl, redis-server);
they are required, not optional: a missing binary fails the tests loudly.
"""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import exceptions as rexc
from testkit import eventually, tls_client

from swarmredis.pki import acl, manage
from swarmredis.pki import leaf as leaf_module
from swarmredis.pki.ca import NameLimits, build_ca
from swarmredis.pki.keys import KeyType
from swarmredis.pki.leaf import issue_client, issue_server, server_names
from swarmredis.pki.material import stack_pki
from swarmredis.pki.store import CertStore

from .product import REPLICATION, STANDALONE, make_store
from .servers import Lab, RedisProcess

NOW = datetime.now(UTC)
OPENSSL = shutil.which("openssl") or shutil.which("openssl", path="/usr/sbin:/usr/bin")
assert OPENSSL, "openssl is required for these tests: apt-get install openssl"
# TLS 1.3: the server's alert, or the reset that follows it when it arrives first
NO_CERT = "alert certificate required|Connection reset by peer"
COMMAND = "this user has no permissions to run the '{}' command"
KEYS = "this user has no permissions to access one of the keys used as arguments"
SLOWLOGGED = [b"SET app:slow 1", b"SLOWLOG RESET"]  # newest first


# -- openssl ------------------------------------------------------------------


def openssl_verify(ca: Path, cert: Path, purpose: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPENSSL, "verify", "-CAfile", str(ca), "-purpose", purpose, str(cert)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_openssl_verifies_every_leaf(store: CertStore) -> None:
    leaves = manage.check_leaves(store, stack_pki(REPLICATION), now=NOW)
    # 3 nodes, 3 sentinels; swarmredis-admin, monitor, app
    assert len(leaves) == 9
    for leaf in leaves:
        purposes = ["sslserver", "sslclient"] if leaf.kind == "node" else ["sslclient"]
        for purpose in purposes:
            result = openssl_verify(store.ca_bundle, leaf.cert_path, purpose)
            assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result
    client_as_server = openssl_verify(store.ca_bundle, store.client_cert("app"), "sslserver")
    assert client_as_server.returncode == 2
    assert "unsuitable certificate purpose" in client_as_server.stderr


def test_openssl_enforces_the_name_constraints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = NameLimits.for_stack(["acme-node-1"], ["10.0.0.0/24"])
    ca = build_ca("acme", now=NOW, limits=limits)
    files = {
        "good.crt": issue_server(
            ca, common_name="acme-node-1", now=NOW, names=server_names("acme-node-1", ["10.0.0.5"])
        ).cert,
        "client.crt": issue_client(ca, user="swarmredis-admin", now=NOW).cert,
    }
    # Bypass our own check to prove that TLS peers enforce the constraint too.
    monkeypatch.setattr(leaf_module, "check_names_permitted", lambda ca, names: None)
    files["evil.crt"] = issue_server(
        ca, common_name="evil", now=NOW, names=server_names("evil.example")
    ).cert
    files["evil-ip.crt"] = issue_server(
        ca, common_name="acme-node-1", now=NOW, names=server_names("acme-node-1", ["192.0.2.1"])
    ).cert
    (tmp_path / "ca.crt").write_bytes(manage.cert_pem([ca.cert]))
    for name, cert in files.items():
        (tmp_path / name).write_bytes(manage.cert_pem([cert]))
    ca_file = tmp_path / "ca.crt"
    assert openssl_verify(ca_file, tmp_path / "good.crt", "sslserver").returncode == 0
    assert openssl_verify(ca_file, tmp_path / "client.crt", "sslclient").returncode == 0
    for name in ("evil.crt", "evil-ip.crt"):
        result = openssl_verify(ca_file, tmp_path / name, "sslserver")
        assert result.returncode != 0
        assert "permitted subtree violation" in result.stdout + result.stderr


# -- redis-server ---------------------------------------------------------------


@pytest.fixture
def primary(lab: Lab) -> RedisProcess:
    """node-1 of the replication stack: its users.acl has every built-in user and app."""
    return lab.add_node("node-1", REPLICATION)


@pytest.mark.anyio
async def test_admin_with_cert_and_password_connects(
    store: CertStore, primary: RedisProcess
) -> None:
    async with tls_client(primary.endpoint, store, acl.ADMIN) as admin:
        assert await admin.ping() is True
        assert await admin.acl_whoami() == acl.ADMIN
        assert sorted(await admin.acl_users()) == sorted(
            ["default", "swarmredis-admin", "replication", "monitor", "sentinel", "app"]
        )
        default = await admin.acl_getuser("default")
        assert "off" in default["flags"] and default["passwords"] == []
        assert await admin.set("any:key", "1") is True
        assert await admin.config_get("maxmemory") == {"maxmemory": str(64 * 1024**2)}


@pytest.mark.anyio
async def test_client_without_certificate_is_refused(
    store: CertStore, primary: RedisProcess
) -> None:
    async with tls_client(primary.endpoint, store, acl.ADMIN, with_cert=False) as anonymous:
        with pytest.raises(rexc.ConnectionError, match=NO_CERT):
            await anonymous.ping()


@pytest.mark.anyio
async def test_default_user_is_refused(store: CertStore, primary: RedisProcess) -> None:
    async with tls_client(primary.endpoint, store, None) as nobody:  # a certificate, no AUTH
        with pytest.raises(
            rexc.AuthenticationError,
            match="HELLO must be called with the client already authenticated",
        ):
            await nobody.ping()
    async with tls_client(primary.endpoint, store, "default", password="") as default:
        with pytest.raises(rexc.AuthenticationError, match="invalid username-password pair"):
            await default.ping()


@pytest.mark.anyio
async def test_wrong_password_is_refused(store: CertStore, primary: RedisProcess) -> None:
    async with tls_client(primary.endpoint, store, "app", password="not-the-password") as app:
        with pytest.raises(rexc.AuthenticationError, match="invalid username-password pair"):
            await app.ping()


@pytest.mark.anyio
async def test_stack_user_is_limited_to_its_keys_and_commands(
    store: CertStore, primary: RedisProcess
) -> None:
    async with tls_client(primary.endpoint, store, "app") as app:
        assert await app.set("app:1", "v") is True
        assert await app.get("app:1") == "v"
        for denied, refusal in (
            (app.config_get("maxmemory"), COMMAND.format("config|get")),
            (app.flushall(), COMMAND.format("flushall")),
            (app.set("other:1", "v"), KEYS),
            (app.get("other:1"), KEYS),
            (app.acl_list(), COMMAND.format("acl|list")),
        ):
            with pytest.raises(rexc.NoPermissionError, match=re.escape(refusal)):
                await denied


@pytest.mark.anyio
async def test_monitor_reads_stats_but_no_keys_or_config(
    store: CertStore, primary: RedisProcess
) -> None:
    async with tls_client(primary.endpoint, store, acl.ADMIN) as admin:
        # the slow log holds exactly the commands run while every command is "slow"
        await admin.config_set("slowlog-log-slower-than", 0)
        await admin.slowlog_reset()
        await admin.set("app:slow", "1")
        await admin.config_set("slowlog-log-slower-than", -1)
        logged = [entry["command"] for entry in await admin.slowlog_get()]
    assert logged == SLOWLOGGED
    async with tls_client(primary.endpoint, store, acl.MONITOR) as monitor:
        assert (await monitor.info("server"))["tcp_port"] == primary.port
        assert {c["user"] for c in await monitor.client_list()} == {acl.MONITOR}
        assert await monitor.slowlog_len() == len(SLOWLOGGED)
        for denied, refusal in (
            (monitor.get("app:1"), COMMAND.format("get")),
            (monitor.config_get("masterauth"), COMMAND.format("config|get")),
            (monitor.slowlog_get(), COMMAND.format("slowlog|get")),
            (monitor.keys("*"), COMMAND.format("keys")),
            (monitor.set("x", "1"), COMMAND.format("set")),
        ):
            with pytest.raises(rexc.NoPermissionError, match=re.escape(refusal)):
                await denied


def tls_handshake(port: int, version: ssl.TLSVersion, store: CertStore) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(store.ca_bundle)
    context.load_cert_chain(store.client_cert(acl.ADMIN), store.client_key(acl.ADMIN))
    if version < ssl.TLSVersion.TLSv1_2:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let *this* client offer old protocols
    context.minimum_version = context.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version() or ""


def test_tls_1_1_is_refused_by_the_server(store: CertStore, primary: RedisProcess) -> None:
    assert tls_handshake(primary.port, ssl.TLSVersion.TLSv1_2, store) == "TLSv1.2"
    assert tls_handshake(primary.port, ssl.TLSVersion.TLSv1_3, store) == "TLSv1.3"
    with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|protocol version"):
        tls_handshake(primary.port, ssl.TLSVersion.TLSv1_1, store)


@pytest.mark.parametrize("key_type", [KeyType.RSA_3072, KeyType.ED25519])
def test_rsa_and_ed25519_certificates_work_with_redis(tmp_path: Path, key_type: KeyType) -> None:
    store = make_store(tmp_path / "certs", key_type)
    lab = Lab(store, tmp_path / "lab")
    try:
        server = lab.add_node("node-1", STANDALONE)
        assert tls_handshake(server.port, ssl.TLSVersion.TLSv1_2, store) == "TLSv1.2"
        assert tls_handshake(server.port, ssl.TLSVersion.TLSv1_3, store) == "TLSv1.3"
    finally:
        lab.stop_all()


@pytest.mark.anyio
async def test_replica_syncs_over_tls_with_the_replication_user(
    store: CertStore, lab: Lab, primary: RedisProcess
) -> None:
    replica = lab.add_node("node-2", REPLICATION)  # its redis.conf: replicaof node-1
    async with (
        tls_client(primary.endpoint, store, acl.ADMIN) as p,
        tls_client(replica.endpoint, store, acl.ADMIN) as r,
    ):
        assert await p.set("app:replicated", "yes") is True

        async def link_up() -> bool:
            info = await r.info("replication")
            return bool(info.get("master_link_status") == "up")

        async def replicated() -> bool:
            return bool(await r.get("app:replicated") == "yes")

        await eventually(link_up, 15, "master_link_status:up")
        await eventually(replicated, 15, "the key on the replica")
        # exactly +psync +replconf +ping: nothing the replica ran was denied
        assert await p.acl_log() == []
        assert (await p.info("replication"))["connected_slaves"] == 1
