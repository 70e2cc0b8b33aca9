"""Certificate renewal and CA rotation, rolled out by `deploy` on the lab (stack `itrot`).

The module deploys one cluster and writes keys; the tests run in file order. First a
renewal (`certs issue --renew-days` past the leaves' lifetime) and a deploy: every
node serves a new certificate. Then the three CA rotation steps of
docs/operations.md, each followed by a deploy: during the overlap a client with the
old CA's certificate and one with the new CA's are both accepted; at the end only the
new CA is. After every deploy the stack is healthy and every key reads back.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from cryptography import x509
from testkit.tls import ClientFiles, ping_reply, served_certificate, signed_by

from .conftest import SwarmLab
from .helpers import ROOT, DeployedStack, cli, cluster_client, stack_copy

STACK = "itrot"
BASE_PORT = 7900
KEYS = {f"app:rot:{i}": f"v{i}" for i in range(300)}  # on every shard
REFUSED = r"unknown ca|EOF occurred in violation of protocol"  # see test_ca_rotation_3
pytestmark = pytest.mark.logs_on_failure(*(f"{STACK}_node-{i}" for i in range(1, 7)))


class Rotated(DeployedStack):
    @property
    def store(self) -> Path:
        return self.certs / STACK

    def certs_cli(self, *args: str) -> str:
        """`swarmredis certs ARGS STACKFILE --certs-dir C` (local only), which must succeed."""
        command = [sys.executable, "-m", "swarmredis", "certs", *args, str(self.stack_file)]
        result = subprocess.run(
            [*command, "--certs-dir", str(self.certs)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        return result.stdout

    def deploy_healthy(self) -> str:
        """A deploy that succeeds and leaves the stack healthy (status exit 0)."""
        result = self.deploy()
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        code, report = self.status()
        assert code == 0, report["problems"]
        assert report["status"] == "healthy"
        assert report["cluster"]["state"] == "ok"
        assert report["cluster"]["slots_ok"] == 16384
        return result.stdout

    def served(self, files: ClientFiles) -> dict[str, x509.Certificate]:
        """The certificate each node serves (by node name), verified with ``files``."""
        return {
            alias.removeprefix(f"{STACK}-"): served_certificate(host, port, files)
            for (alias, _), (host, port) in self.endpoints().items()
        }

    def app_files(self) -> ClientFiles:
        return ClientFiles.of_store(self.store, "app")


@pytest.fixture(scope="module")
def rotated(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rotated]:
    tmp = tmp_path_factory.mktemp(STACK)
    certs = tmp / "certs"
    stack_file = stack_copy(tmp, "cluster", STACK, BASE_PORT, resources={"memory": "256M"})
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)
    first = cli(
        "deploy", str(stack_file), "--certs-dir", str(certs), docker_host=swarm_lab.docker_host
    )
    try:
        yield Rotated(STACK, swarm_lab, stack_file, certs, first)
    finally:
        cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


def lost(d: Rotated, files: ClientFiles | None = None) -> dict[str, str]:
    """Every key of KEYS whose value does not read back as written (empty: none lost)."""
    return anyio.run(read_all, d, files)


async def read_all(d: Rotated, files: ClientFiles | None) -> dict[str, str]:
    client = await cluster_client(STACK, d.certs, d.lab.docker_host, "app", files)
    try:
        values = await client.mget_nonatomic(list(KEYS))
    finally:
        await client.aclose()
    return {k: repr(v) for k, v in zip(KEYS, values, strict=True) if v != KEYS[k].encode()}


async def write_all(d: Rotated) -> None:
    client = await cluster_client(STACK, d.certs, d.lab.docker_host, "app")
    try:
        for key, value in KEYS.items():
            assert await client.set(key, value) is True
    finally:
        await client.aclose()


def test_deploy_then_write_keys(rotated: Rotated) -> None:
    assert rotated.first.returncode == 0, rotated.first.stdout[-3000:] + rotated.first.stderr
    anyio.run(write_all, rotated)
    assert lost(rotated) == {}


def test_renewed_leaves_are_rolled_out_by_deploy(rotated: Rotated, tmp_path: Path) -> None:
    before = rotated.served(rotated.app_files())
    assert len(before) == 6
    old_app = rotated.app_files().kept(tmp_path / "old-app")
    # Leaves live 90 days: a window of 100 makes every one of them due.
    out = rotated.certs_cli("issue", "--renew-days", "100")
    assert "issued node node-1 (expiring)" in out
    assert "issued node node-6 (expiring)" in out
    rotated.deploy_healthy()
    after = rotated.served(rotated.app_files())
    assert sorted(after) == sorted(before) == [f"node-{i}" for i in range(1, 7)]
    for node, cert in after.items():
        assert cert.serial_number != before[node].serial_number, node
        assert cert.not_valid_after_utc > before[node].not_valid_after_utc, node
        issued = (rotated.store / "nodes" / f"{node}.crt").read_bytes()
        assert cert == x509.load_pem_x509_certificate(issued), node  # the one just issued
    assert lost(rotated) == {}
    assert lost(rotated, old_app) == {}  # same CA: the replaced client cert still works


@pytest.fixture(scope="module")
def kept(rotated: Rotated) -> dict[str, ClientFiles]:
    """Client files kept across the rotation steps (the store's change at each step)."""
    return {}


def ping_ok(d: Rotated, files: ClientFiles) -> None:
    """Every node accepts ``files`` in a TLS handshake (and asks for AUTH: default is off)."""
    for host, port in d.endpoints().values():
        assert ping_reply(host, port, files) == b"-NOAUTH Authentication required."


def test_ca_rotation_1_start_every_node_trusts_both_cas(
    rotated: Rotated, kept: dict[str, ClientFiles], tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = rotated.store
    tmp = tmp_path_factory.mktemp("rotation")
    kept["old-only"] = old_only = rotated.app_files().kept(tmp / "old-only")
    out = rotated.certs_cli("ca", "start")
    assert "ca.crt now trusts the new and the previous CA" in out
    assert (store / "ca-previous.crt").read_bytes() == old_only.ca.read_bytes()
    kept["new-ca"] = new_ca = Path(shutil.copyfile(store / "ca-current.crt", tmp / "new-ca.crt"))
    assert new_ca.read_bytes() != old_only.ca.read_bytes()
    bundle = x509.load_pem_x509_certificates((store / "ca.crt").read_bytes())
    assert len(bundle) == 2
    rotated.deploy_healthy()
    # nodes still serve the old CA's leaves (deploy does not re-issue them) and trust both
    for cert in rotated.served(old_only).values():
        assert signed_by(cert, old_only.ca)
    kept["old-bundle"] = rotated.app_files().kept(tmp / "old-bundle")  # old cert, both CAs
    ping_ok(rotated, old_only)
    assert lost(rotated, old_only) == {}


def test_ca_rotation_2_reissue_clients_of_both_cas_work(
    rotated: Rotated, kept: dict[str, ClientFiles], tmp_path_factory: pytest.TempPathFactory
) -> None:
    old_ca, new_ca = kept["old-only"].ca, kept["new-ca"]
    out = rotated.certs_cli("issue")
    assert "issued node node-1 (previous-ca)" in out
    assert "issued client app (previous-ca)" in out
    rotated.deploy_healthy()
    tmp = tmp_path_factory.mktemp("rotation-2")
    kept["new-only"] = new_only = rotated.app_files().kept(tmp / "new-only", ca=new_ca)
    for cert in rotated.served(new_only).values():
        assert signed_by(cert, new_ca)
        assert not signed_by(cert, old_ca)
    assert not signed_by(x509.load_pem_x509_certificate(new_only.cert.read_bytes()), old_ca)
    # the overlap: a client with the old CA's certificate and one with the new CA's
    ping_ok(rotated, kept["old-bundle"])
    ping_ok(rotated, new_only)
    assert lost(rotated, kept["old-bundle"]) == {}
    assert lost(rotated, new_only) == {}


def test_ca_rotation_3_finish_only_the_new_ca_is_trusted(
    rotated: Rotated, kept: dict[str, ClientFiles]
) -> None:
    out = rotated.certs_cli("ca", "finish")
    assert "now trusts only the new CA" in out
    assert (rotated.store / "ca.crt").read_bytes() == kept["new-ca"].read_bytes()
    rotated.deploy_healthy()
    assert lost(rotated) == {}
    assert lost(rotated, kept["new-only"]) == {}
    ping_ok(rotated, kept["new-only"])
    for host, port in rotated.endpoints().values():
        # The node refuses the old CA's client: Redis 7.0 logs "certificate verify failed"
        # and closes the connection, which the client sees as an EOF on its first read (or as
        # alert "unknown ca"); the same endpoint answered the new CA's client just before.
        with pytest.raises(ssl.SSLError, match=REFUSED):
            ping_reply(host, port, kept["old-bundle"])
        # nor can a client that trusts only the old CA verify the node (it sends the new CA
        # along with its leaf: "self-signed certificate in certificate chain")
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            served_certificate(host, port, kept["old-only"])
