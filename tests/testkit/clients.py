"""The one redis.asyncio client of the tests that talk to Redis directly, not through the
engine: TLS with the stack's CA and a user's client certificate, an ACL user, timeouts on
every socket wait and no silent retry."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.pki import acl
from swarmredis.pki.store import CertStore

TIMEOUT_S = 5.0


def tls_client(
    endpoint: RedisEndpoint,
    store: CertStore,
    user: str | None,
    *,
    password: str | None = None,
    cert: str | None = None,
    with_cert: bool = True,
    timeout: float = TIMEOUT_S,
) -> aioredis.Redis:
    """A client of ``endpoint`` logging in as ``user`` (``None``: no AUTH) with its stored
    password unless ``password`` is given; it shows the client certificate of ``cert``, else
    the user's own, else the admin's (``with_cert=False``: none)."""
    if password is None and user is not None:
        password = store.read_password(user)
    shown = cert or (user if user and store.exists(store.client_cert(user)) else acl.ADMIN)
    return aioredis.Redis(
        host=endpoint.host,
        port=endpoint.port,
        ssl=True,
        ssl_ca_certs=str(store.ca_bundle),
        ssl_certfile=str(store.client_cert(shown)) if with_cert else None,
        ssl_keyfile=str(store.client_key(shown)) if with_cert else None,
        username=user,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
    )
