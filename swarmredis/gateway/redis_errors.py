"""redis.asyncio's, ssl's and the socket layer's errors -> the swarmredis error tree, in
one place (``mapped``), for ``gateway/redis.py``: the tree is drawn in its docstring."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import redis.exceptions as rexc

from swarmredis.errors import (
    RedisAuthError,
    RedisError,
    RedisHandshakeClosed,
    RedisReplyError,
    RedisTLSError,
    RedisUnreachable,
    SwarmRedisError,
)
from swarmredis.gateway.endpoint import RedisEndpoint


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _describe_connect_failure(exc: BaseException, timeout: float) -> tuple[type[RedisError], str]:
    """Which stage of connecting failed (TCP, TLS handshake, auth) and why."""
    chain = list(_chain(exc))
    garbled = next((e for e in chain if isinstance(e, rexc.InvalidResponse)), None)
    if garbled is not None:
        return RedisReplyError, f"answered AUTH with something that is not Redis: {garbled}"
    if any(isinstance(e, rexc.AuthenticationError) for e in chain):
        return RedisAuthError, f"auth failed: {exc}"
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None:
        reason = getattr(tls, "reason", None) or str(tls)
        return RedisTLSError, f"TLS handshake failed: {reason}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return RedisUnreachable, "TCP connection refused"
    if any(isinstance(e, TimeoutError | rexc.TimeoutError) for e in chain):
        return RedisUnreachable, f"TCP/TLS connect timed out after {timeout:g}s"
    if any(isinstance(e, rexc.BusyLoadingError) for e in chain):
        return RedisUnreachable, "still loading its dataset"
    if any(isinstance(e, ConnectionResetError | EOFError) for e in chain):
        return RedisHandshakeClosed, (
            "connection closed during TLS handshake (client certificate refused?)"
        )
    os_error = next((e for e in chain if isinstance(e, OSError)), None)
    return RedisUnreachable, f"TCP: {os_error.strerror or os_error}" if os_error else str(exc)


def _reply_code(exc: BaseException) -> str | None:
    """The first word of a Redis error reply (``NOGOODSLAVE``, ``ERR``, ``MOVED``...)."""
    if not isinstance(exc, rexc.ResponseError):
        return None
    known = getattr(exc, "status_code", None)  # redis-py took it off (ASK, MOVED...)
    if isinstance(known, str) and known:
        return known
    word = str(exc).split(" ", 1)[0]
    return word if word.isupper() else "ERR"


def _describe_command_failure(exc: BaseException, timeout: float) -> tuple[type[RedisError], str]:
    """A failure after the connection was established."""
    text = str(exc)
    if isinstance(exc, rexc.NoPermissionError) or text.startswith(("NOAUTH", "WRONGPASS")):
        return RedisAuthError, f"not permitted: {text}"
    if isinstance(exc, rexc.BusyLoadingError):
        return RedisUnreachable, f"still loading its dataset: {text}"
    if isinstance(exc, rexc.ResponseError):
        return RedisError, f"refused: {text}"
    if isinstance(exc, rexc.InvalidResponse):
        return RedisReplyError, f"a reply that is not Redis (RESP): {text}"
    if isinstance(exc, TimeoutError | rexc.TimeoutError):
        return RedisUnreachable, f"no reply within {timeout:g}s"
    if any(isinstance(e, ssl.SSLError) for e in _chain(exc)):
        return RedisTLSError, f"TLS failure: {text}"
    return RedisUnreachable, f"connection lost: {text}"


@contextmanager
def mapped(
    name: str, endpoint: RedisEndpoint, command: str | None, timeout: float
) -> Iterator[None]:
    """The one place where library errors become swarmredis errors."""
    try:
        yield
    except SwarmRedisError:
        raise
    except (rexc.RedisError, OSError, TimeoutError, EOFError) as exc:
        if command is None:
            kind, what = _describe_connect_failure(exc, timeout)
            where = f"{name} at {endpoint}"
        else:
            kind, what = _describe_command_failure(exc, timeout)
            where = f"{name} at {endpoint}: {command}"
        raise kind(
            f"{where}: {what}",
            node=name,
            endpoint=str(endpoint),
            command=command,
            code=_reply_code(exc),
        ) from None


def refusal(
    name: str, endpoint: RedisEndpoint, label: str, exc: rexc.ResponseError, timeout: float
) -> RedisError:
    """The error ``execute`` would have raised for this refused command."""
    try:
        with mapped(name, endpoint, label, timeout):
            raise exc
    except RedisError as error:
        return error
    raise AssertionError("unreachable: _mapped maps every ResponseError")  # pragma: no cover
