"""TLS with a Redis node: the certificate it serves, whether it accepts a client, and the
one TLS client factory of the lab tests (a raw handshake, or a Redis client).

Which files a client uses (trust, certificate, key) is a value (``ClientFiles``), so
a test can keep the files of before a renewal or a CA rotation and try them later.
``store`` arguments are the stack's folder of the store (``certs/<stack>``): ``ca.crt``,
``clients/<user>.crt|.key``, ``users/<user>.password``. Node certificates name overlay
aliases; tests dial host addresses, so the chain is verified but not the name.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


@dataclass(frozen=True)
class ClientFiles:
    """The trust bundle, client certificate and key a TLS client presents."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def of_store(cls, stack_dir: Path, user: str) -> ClientFiles:
        """The files of ``user`` in a certificate store (``<certs-dir>/<stack>``)."""
        return cls(
            stack_dir / "ca.crt",
            stack_dir / "clients" / f"{user}.crt",
            stack_dir / "clients" / f"{user}.key",
        )

    def kept(self, folder: Path, *, ca: Path | None = None) -> ClientFiles:
        """Copies in ``folder`` (the store's files change on renewal); ``ca`` replaces the trust."""
        folder.mkdir(parents=True, exist_ok=True)
        copies = []
        for source, name in ((ca or self.ca, "ca.crt"), (self.cert, "client.crt")):
            copies.append(Path(shutil.copyfile(source, folder / name)))
        key = Path(shutil.copyfile(self.key, folder / "client.key"))
        return ClientFiles(copies[0], copies[1], key)

    def context(self) -> ssl.SSLContext:
        """A client context: verifies the chain against ``ca``, not the name (we dial addresses)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


# A node refuses the old CA's client: Redis 7.0 logs "certificate verify failed" and closes
# the connection, which the client sees as an EOF on its first read (or as alert "unknown ca")
REFUSED = r"unknown ca|EOF occurred in violation of protocol"


def served_certificate(
    host: str, port: int, files: ClientFiles, timeout_s: float = 5
) -> x509.Certificate:
    """The leaf certificate the node at ``host:port`` presents in a verified handshake."""
    with (
        socket.create_connection((host, port), timeout=timeout_s) as raw,
        files.context().wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None, f"{host}:{port} presented no certificate"
    return x509.load_der_x509_certificate(der)


def ping_reply(host: str, port: int, files: ClientFiles, timeout_s: float = 5) -> bytes:
    """The first reply line to ``PING`` over TLS, without AUTH.

    With TLS 1.3 the server checks the client certificate after the client has
    finished its handshake, so a refused certificate shows as an ``ssl.SSLError`` on
    this read, not on connect: Redis 7.0 just closes the connection (an EOF "in
    violation of protocol"), other servers send alert ``unknown ca``.
    """
    with (
        socket.create_connection((host, port), timeout=timeout_s) as raw,
        files.context().wrap_socket(raw) as tls,
    ):
        tls.sendall(b"PING\r\n")
        return tls.recv(256).split(b"\r\n", 1)[0]


def signed_by(cert: x509.Certificate, ca_file: Path) -> bool:
    """Whether ``cert`` was issued and signed by the (first) CA in ``ca_file``."""
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


TIMEOUT_S = 5.0


def client_context(
    store: Path, cert: str | None, version: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    """A client context trusting the stack CA, presenting ``cert``'s certificate (None:
    none), pinned to ``version`` when given (older than 1.2: this client offers it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.load_verify_locations(store / "ca.crt")
    if cert is not None:
        context.load_cert_chain(
            store / "clients" / f"{cert}.crt", store / "clients" / f"{cert}.key"
        )
    if version is not None:
        with warnings.catch_warnings():  # pinning TLS 1.0/1.1 is the point: no warning
            warnings.simplefilter("ignore", DeprecationWarning)
            if version < ssl.TLSVersion.TLSv1_2:
                context.set_ciphers("DEFAULT:@SECLEVEL=0")
            context.minimum_version = context.maximum_version = version
    return context


def handshake_and_ping(
    address: tuple[str, int], context: ssl.SSLContext, payload: bytes | None = b"PING\r\n"
) -> tuple[str, bytes]:
    """TLS handshake, then ``payload`` (None: send nothing): the negotiated version and the
    first reply bytes. A refusal after the handshake (TLS 1.3 sends it after the client
    finished) raises ``ssl.SSLError`` from the read."""
    with (
        socket.create_connection(address, timeout=TIMEOUT_S) as raw,
        context.wrap_socket(raw) as tls,
    ):
        if payload is not None:
            tls.sendall(payload)
        return tls.version() or "", tls.recv(256)


def password(store: Path, user: str) -> str:
    """The password of ``user`` from the store."""
    return (store / "users" / f"{user}.password").read_text().strip()


def redis_client(
    address: tuple[str, int],
    store: Path,
    user: str | None,
    cert: str | None = None,
    timeout_s: float = TIMEOUT_S,
) -> aioredis.Redis:
    """A plain (not cluster-aware) client of one node over TLS with socket timeouts,
    logged in as ``user`` (None: no AUTH), presenting ``cert``'s certificate (default:
    the user's own; the engine's for an anonymous client). It makes no retries of its
    own: a test counts each failure itself (redis-py would retry a dead host's connect
    three times, 20 s in all)."""
    cert = cert or user or "swarmredis-admin"
    return aioredis.Redis(
        host=address[0],
        port=address[1],
        ssl=True,
        ssl_check_hostname=False,
        ssl_ca_certs=str(store / "ca.crt"),
        ssl_certfile=str(store / "clients" / f"{cert}.crt"),
        ssl_keyfile=str(store / "clients" / f"{cert}.key"),
        username=user,
        password=password(store, user) if user else None,
        # redis-py 8 starts RESP3 with HELLO, which Redis refuses before AUTH: an
        # anonymous client speaks RESP2, so the server answers its first command itself
        protocol=3 if user else 2,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
    )
