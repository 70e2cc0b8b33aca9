"""The engine's TLS client identity and its ``ssl`` context (no network, no Redis).

``gateway.redis`` dials with it; kept apart so that module stays about Redis.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TLSClientFiles:
    """PEM files of the engine's TLS client identity and the CA bundle it trusts."""

    ca: Path
    cert: Path
    key: Path


ContextCache = dict[bool, ssl.SSLContext]  # check the server's name or not -> context


def client_context(
    tls: TLSClientFiles, check_hostname: bool, cache: ContextCache | None = None
) -> ssl.SSLContext:
    """The engine's TLS client context: trusts the stack's CA only (no system CA), shows
    the engine's client certificate, TLS 1.2 or newer. Built once per ``cache``: loading
    the files costs milliseconds of CPU per connection, which a fan-out over hundreds of
    nodes pays hundreds of times (redis-py builds one per connection, with the system's
    whole CA store)."""
    if cache is not None and check_hostname in cache:
        return cache[check_hostname]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = check_hostname
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=str(tls.ca))
    context.load_cert_chain(certfile=str(tls.cert), keyfile=str(tls.key))
    if cache is not None:
        cache[check_hostname] = context
    return context
