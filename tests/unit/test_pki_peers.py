"""The generated PKI against real peers: ``openssl verify`` and a local ``redis-server``.

Needs the ``openssl`` and ``redis-server`` binaries (Debian: openssl, redis-server);
they are required, not optional: a missing binary fails the tests loudly.
Servers listen on 127.0.0.1 only, TLS only (``port 0``), in temporary folders.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from swarmredis.pki import acl, manage
from swarmredis.pki import leaf as leaf_module
from swarmredis.pki.ca import NameLimits, build_ca
from swarmredis.pki.keys import KeyType
from swarmredis.pki.leaf import issue_client, issue_server, server_names
from swarmredis.pki.material import build_material
from swarmredis.pki.model import ServerNode, StackPKI
from swarmredis.pki.store import CertStore

NOW = datetime.now(UTC)
NODE_CONFIG = 'aclfile {dir}/users.acl\nsave ""\nappendonly no\nrepl-diskless-sync-delay 0\n'


PACKAGES = {"openssl": "openssl", "redis-server": "redis-server"}


def binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    assert path, f"{name} is required for these tests: apt-get install {PACKAGES[name]}"
    return path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_spec() -> StackPKI:
    nodes = (
        ServerNode("node-1", "acme-node-1"),
        ServerNode("node-2", "acme-node-2"),
        ServerNode("sentinel-1", "acme-sentinel-1", "sentinel"),
        ServerNode("sentinel-2", "acme-sentinel-2", "sentinel"),
    )
    # as in stacks/replication.yaml: +@write alone would include FLUSHALL
    rules = ["+@read", "+@write", "+@connection", "-@dangerous"]
    app = acl.stack_user("app", ["app:*"], [], rules)
    return StackPKI("acme", nodes, (app,), sentinels=True)


def make_store(base: Path, key_type: KeyType = KeyType.ECDSA_P256) -> CertStore:
    store = CertStore(base, "acme")
    manage.init_ca(store, now=NOW, key_type=key_type)
    manage.issue(store, make_spec(), now=NOW)
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> CertStore:
    return make_store(tmp_path_factory.mktemp("certs"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One redis-server (or sentinel) process with its files in ``workdir``."""

    def __init__(self, workdir: Path, node: str, material: dict[str, bytes]) -> None:
        self.workdir, self.node, self.port = workdir, node, free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        for name, data in material.items():
            (workdir / name).write_bytes(data)
            (workdir / name).chmod(0o600)
        self.process: subprocess.Popen[bytes] | None = None

    def tls_lines(self) -> str:
        d = self.workdir
        return (
            f"port 0\nbind 127.0.0.1\ntls-port {self.port}\ndir {d}\n"
            f"tls-cert-file {d}/{self.node}.crt\ntls-key-file {d}/{self.node}.key\n"
            f"tls-ca-cert-file {d}/ca.crt\ntls-auth-clients yes\ntls-replication yes\n"
        )

    def start(self, config: str, *args: str) -> Server:
        conf = self.workdir / f"{self.node}.conf"
        conf.write_text(self.tls_lines() + config.format(dir=self.workdir))
        log = (self.workdir / f"{self.node}.log").open("wb")
        self.process = subprocess.Popen(
            [binary("redis-server"), str(conf), *args], stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise AssertionError(f"{self.node} did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        return (self.workdir / f"{self.node}.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(
        node: str, material: dict[str, bytes], config: str = NODE_CONFIG, *args: str
    ) -> Server:
        server = Server(tmp_path / node, node, material)
        started.append(server)
        return server.start(config, *args)

    yield start
    for server in started:
        server.stop()


def client(
    store: CertStore,
    server: Server,
    user: str | None = None,
    *,
    cert: bool = True,
    password: str | None = None,
) -> aioredis.Redis:
    """A TLS client; its certificate is the user's own, else the admin's."""
    tls_user = user if user and store.exists(store.client_cert(user)) else acl.ADMIN
    if password is None and user:
        password = store.read_password(user)
    return aioredis.Redis(
        host="127.0.0.1",
        port=server.port,
        ssl=True,
        ssl_ca_certs=str(store.ca_bundle),
        ssl_certfile=str(store.client_cert(tls_user)) if cert else None,
        ssl_keyfile=str(store.client_key(tls_user)) if cert else None,
        username=user,
        password=password,
        socket_timeout=5,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
    )


# -- openssl ------------------------------------------------------------------


def openssl_verify(ca: Path, cert: Path, purpose: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("openssl"), "verify", "-CAfile", str(ca), "-purpose", purpose, str(cert)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_openssl_verifies_every_leaf(store: CertStore) -> None:
    leaves = manage.check_leaves(store, make_spec(), now=NOW)
    assert len(leaves) == 7
    for leaf in leaves:
        purposes = ["sslserver", "sslclient"] if leaf.kind == "node" else ["sslclient"]
        for purpose in purposes:
            result = openssl_verify(store.ca_bundle, leaf.cert_path, purpose)
            assert result.returncode == 0 and result.stdout.strip().endswith(": OK"), result
    client_as_server = openssl_verify(store.ca_bundle, store.client_cert("app"), "sslserver")
    assert client_as_server.returncode != 0


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
def material(store: CertStore) -> dict[str, bytes]:
    return build_material(store, make_spec())


@pytest.fixture
def primary(material: dict[str, bytes], servers: Callable[..., Server]) -> Server:
    return servers("node-1", material)


@pytest.mark.anyio
async def test_admin_with_cert_and_password_connects(store: CertStore, primary: Server) -> None:
    async with client(store, primary, acl.ADMIN) as admin:
        assert await admin.ping()
        assert await admin.acl_whoami() == acl.ADMIN
        assert sorted(await admin.acl_users()) == sorted(
            ["default", "swarmredis-admin", "replication", "monitor", "sentinel", "app"]
        )
        default = await admin.acl_getuser("default")
        assert "off" in default["flags"] and default["passwords"] == []
        assert await admin.set("any:key", "1") and await admin.config_get("maxmemory")


@pytest.mark.anyio
async def test_client_without_certificate_is_refused(store: CertStore, primary: Server) -> None:
    async with client(store, primary, acl.ADMIN, cert=False) as anonymous:
        with pytest.raises(rexc.ConnectionError):
            await anonymous.ping()


@pytest.mark.anyio
async def test_default_user_is_refused(store: CertStore, primary: Server) -> None:
    async with client(store, primary) as nobody:  # TLS client cert, no AUTH
        with pytest.raises(rexc.AuthenticationError):
            await nobody.ping()
    async with client(store, primary, "default", password="") as default:
        with pytest.raises(rexc.AuthenticationError):
            await default.ping()


@pytest.mark.anyio
async def test_wrong_password_is_refused(store: CertStore, primary: Server) -> None:
    async with client(store, primary, "app", password="not-the-password") as app:
        with pytest.raises(rexc.AuthenticationError):
            await app.ping()


@pytest.mark.anyio
async def test_stack_user_is_limited_to_its_keys_and_commands(
    store: CertStore, primary: Server
) -> None:
    async with client(store, primary, "app") as app:
        assert await app.set("app:1", "v")
        assert await app.get("app:1") == "v"
        for denied in (
            app.config_get("maxmemory"),
            app.flushall(),
            app.set("other:1", "v"),
            app.get("other:1"),
            app.acl_list(),
        ):
            with pytest.raises(rexc.NoPermissionError):
                await denied


@pytest.mark.anyio
async def test_monitor_reads_stats_but_no_keys_or_config(store: CertStore, primary: Server) -> None:
    async with client(store, primary, acl.MONITOR) as monitor:
        assert "redis_version" in await monitor.info("server")
        assert await monitor.client_list()
        assert await monitor.slowlog_len() >= 0
        for denied in (
            monitor.get("app:1"),
            monitor.config_get("masterauth"),
            monitor.slowlog_get(),
            monitor.keys("*"),
            monitor.set("x", "1"),
        ):
            with pytest.raises(rexc.NoPermissionError):
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


def test_tls_1_1_is_refused_by_the_server(store: CertStore, primary: Server) -> None:
    assert tls_handshake(primary.port, ssl.TLSVersion.TLSv1_2, store) == "TLSv1.2"
    assert tls_handshake(primary.port, ssl.TLSVersion.TLSv1_3, store) == "TLSv1.3"
    with pytest.raises(ssl.SSLError, match=r"PROTOCOL_VERSION|protocol version"):
        tls_handshake(primary.port, ssl.TLSVersion.TLSv1_1, store)


@pytest.mark.parametrize("key_type", [KeyType.RSA_3072, KeyType.ED25519])
def test_rsa_and_ed25519_certificates_work_with_redis(
    tmp_path: Path, servers: Callable[..., Server], key_type: KeyType
) -> None:
    store = make_store(tmp_path / "certs", key_type)
    server = servers("node-1", build_material(store, make_spec()))
    assert tls_handshake(server.port, ssl.TLSVersion.TLSv1_2, store) == "TLSv1.2"
    assert tls_handshake(server.port, ssl.TLSVersion.TLSv1_3, store) == "TLSv1.3"


def replica_config(primary: Server) -> str:
    return NODE_CONFIG + (
        f"include {{dir}}/replication-auth.conf\nreplicaof 127.0.0.1 {primary.port}\n"
    )


async def wait_for(check: Callable[[], Awaitable[bool]], what: str) -> None:
    with anyio.move_on_after(15):
        while True:  # polling: the servers give no event to wait for
            if await check():
                return
            await anyio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.anyio
async def test_replica_syncs_over_tls_with_the_replication_user(
    store: CertStore,
    material: dict[str, bytes],
    primary: Server,
    servers: Callable[..., Server],
) -> None:
    replica = servers("node-2", material, replica_config(primary))
    async with client(store, primary, acl.ADMIN) as p, client(store, replica, acl.ADMIN) as r:
        await p.set("app:replicated", "yes")

        async def link_up() -> bool:
            info = await r.info("replication")
            return bool(info.get("master_link_status") == "up")

        await wait_for(link_up, "master_link_status:up")
        await wait_for(lambda: _equals(r.get("app:replicated"), "yes"), "the key on the replica")
        # exactly +psync +replconf +ping: nothing the replica ran was denied
        assert await p.acl_log() == []
        replicas = (await p.info("replication"))["connected_slaves"]
        assert replicas == 1


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected
