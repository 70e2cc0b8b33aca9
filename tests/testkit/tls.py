"""TLS clients of a stack's certificate store: a raw handshake, or a Redis client.

``store`` is the stack's folder of the store (``certs/<stack>``): ``ca.crt``,
``clients/<user>.crt|.key``, ``users/<user>.password``. Node certificates name overlay
aliases; tests dial host addresses, so the chain is verified but not the name.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from pathlib import Path

import redis.asyncio as aioredis

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
    address: tuple[str, int], store: Path, user: str | None, cert: str | None = None
) -> aioredis.Redis:
    """A plain (not cluster-aware) client of one node over TLS with socket timeouts,
    logged in as ``user`` (None: no AUTH), presenting ``cert``'s certificate (default:
    the user's own; the engine's for an anonymous client)."""
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
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
    )
