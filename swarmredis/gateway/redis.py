"""Redis access over TLS: one connection per node, every wait bounded, errors mapped once.

The engine talks to Redis only through ``connect_node`` (or ``RedisAccess.connect``).
Each node gets exactly one ``redis.asyncio`` connection (no pool, no silent retries); every
network wait runs under ``anyio.fail_after``. Errors of redis.asyncio, ssl and the socket
layer are translated in ``_mapped`` into the swarmredis error tree:

    RedisError                 a node refused a command (names node and command)
    ├── RedisAuthError         WRONGPASS / NOAUTH / NOPERM: TLS worked, the user did not
    └── RedisUnreachable       no usable connection: TCP refused, timed out or lost
        └── RedisTLSError      TCP worked, the TLS handshake did not (CA, certificate)
            └── RedisHandshakeClosed  closed mid-handshake: refused certificate or killed

Replies are returned raw (``str``, ``int``, lists); ``swarmredis.engine.redis.replies`` parses
them, so this module stays the only one that knows redis.asyncio.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import (
    AbstractAsyncContextManager,
    asynccontextmanager,
    contextmanager,
    suppress,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import anyio
import redis.exceptions as rexc
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from swarmredis.constants import NODE_TIMEOUT_S
from swarmredis.errors import (
    RedisAuthError,
    RedisError,
    RedisHandshakeClosed,
    RedisTLSError,
    RedisUnreachable,
    SwarmRedisError,
)
from swarmredis.gateway.endpoint import RedisEndpoint

Reply: TypeAlias = "str | int | float | list[Reply] | dict[str, Reply] | None"
Arg: TypeAlias = str | int | float | bytes


@dataclass(frozen=True)
class TLSClientFiles:
    """PEM files of the engine's TLS client identity and the CA bundle it trusts."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class Credentials:
    """ACL user the engine authenticates as."""

    username: str
    password: str = field(repr=False)


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


class _NamedSSLConnection(SSLConnection):
    """SSL connection with the engine's own context, checking the certificate against a
    given name, not the address: the engine dials host addresses, while node
    certificates name the node (its alias)."""

    def __init__(self, *, server_name: str | None, context: ssl.SSLContext, **kwargs: Any) -> None:
        self._server_name = server_name
        self._context = context
        super().__init__(ssl_check_hostname=server_name is not None, **kwargs)

    def _connection_arguments(self) -> Mapping[str, Any]:
        # the plain connection's arguments: SSLConnection's own would build redis-py's
        # context (with the system's CA store: 20 ms of CPU each) only to be replaced
        arguments = dict(Connection._connection_arguments(self))
        arguments["ssl"] = self._context
        if self._server_name is not None:
            arguments["server_hostname"] = self._server_name
        return arguments


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
    word = str(exc).split(" ", 1)[0]
    return word if word.isupper() else "ERR"


def _describe_command_failure(exc: BaseException, timeout: float) -> tuple[type[RedisError], str]:
    """A failure after the connection was established."""
    text = str(exc)
    if isinstance(exc, rexc.NoPermissionError) or text.startswith(("NOAUTH", "WRONGPASS")):
        return RedisAuthError, f"not permitted: {text}"
    if isinstance(exc, rexc.ResponseError):
        return RedisError, f"refused: {text}"
    if isinstance(exc, TimeoutError | rexc.TimeoutError):
        return RedisUnreachable, f"no reply within {timeout:g}s"
    if any(isinstance(e, ssl.SSLError) for e in _chain(exc)):
        return RedisTLSError, f"TLS failure: {text}"
    return RedisUnreachable, f"connection lost: {text}"


@contextmanager
def _mapped(
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


def _refusal(
    name: str, endpoint: RedisEndpoint, label: str, exc: rexc.ResponseError, timeout: float
) -> RedisError:
    """The error ``execute`` would have raised for this refused command."""
    try:
        with _mapped(name, endpoint, label, timeout):
            raise exc
    except RedisError as error:
        return error
    raise AssertionError("unreachable: _mapped maps every ResponseError")  # pragma: no cover


def _command_label(args: tuple[Arg, ...]) -> str:
    words = [a.decode() if isinstance(a, bytes) else str(a) for a in args[:2]]
    if len(words) == 2 and not words[1].isalpha():
        words = words[:1]
    return " ".join(words).upper()


class RedisNode:
    """A live connection to one Redis node or Sentinel; use ``connect_node`` to get one.

    If the connection breaks, the next ``execute`` dials again (once, under the timeout).
    """

    def __init__(
        self, name: str, endpoint: RedisEndpoint, connection: SSLConnection, timeout: float
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self.timeout = timeout
        self._connection = connection

    def __repr__(self) -> str:
        return f"RedisNode({self.name!r}, {self.endpoint})"

    async def execute(self, *args: Arg) -> Reply:
        """Send one command and return its raw reply (errors mapped, under the timeout)."""
        label = _command_label(args)
        with _mapped(self.name, self.endpoint, label, self.timeout), anyio.fail_after(self.timeout):
            await self._connection.send_command(*args)
            reply: Reply = await self._connection.read_response()
        return reply

    async def pipeline(self, *commands: tuple[Arg, ...]) -> list[Reply | RedisError]:
        """Send several commands in one write and read their replies in order: one round
        trip. A command the node refuses gives its error in its place (the connection stays
        usable); a lost connection or the timeout raises, as ``execute`` does."""
        labels = [_command_label(c) for c in commands]
        replies: list[Reply | RedisError] = []
        what = " + ".join(labels)
        with _mapped(self.name, self.endpoint, what, self.timeout), anyio.fail_after(self.timeout):
            packed = self._connection.pack_commands(commands)
            await self._connection.send_packed_command(packed)
            for label in labels:
                try:
                    replies.append(await self._connection.read_response())
                except rexc.ResponseError as exc:
                    replies.append(_refusal(self.name, self.endpoint, label, exc, self.timeout))
        return replies

    async def text(self, *args: Arg) -> str:
        """Run a command whose reply is a bulk string (INFO, CLUSTER NODES, ...)."""
        reply = await self.execute(*args)
        if not isinstance(reply, str):
            raise RedisError(
                f"{self.name} at {self.endpoint}: {_command_label(args)}: "
                f"expected text, got {type(reply).__name__}"
            )
        return reply

    async def ping(self) -> None:
        """PING; raises unless the node answers PONG."""
        reply = await self.execute("PING")
        if reply not in ("PONG", True):
            raise RedisError(f"{self.name} at {self.endpoint}: PING: unexpected reply {reply!r}")

    async def info(self, section: str | None = None) -> str:
        """INFO [section] as text (parse with ``replies.parse_info``)."""
        return await self.text("INFO", section) if section else await self.text("INFO")

    async def cluster_nodes(self) -> str:
        """CLUSTER NODES as text (parse with ``replies.parse_cluster_nodes``)."""
        return await self.text("CLUSTER", "NODES")

    async def cluster_info(self) -> str:
        """CLUSTER INFO as text (parse with ``replies.parse_cluster_info``)."""
        return await self.text("CLUSTER", "INFO")

    async def cluster_myid(self) -> str:
        """This node's cluster id."""
        return await self.text("CLUSTER", "MYID")

    async def role(self) -> list[Reply]:
        """ROLE as a raw list (parse with ``replies.parse_role``)."""
        reply = await self.execute("ROLE")
        if not isinstance(reply, list):
            raise RedisError(f"{self.name} at {self.endpoint}: ROLE: unexpected reply {reply!r}")
        return reply

    async def close(self) -> None:
        """Close the connection; never raises, never waits more than a second."""
        with anyio.move_on_after(1.0, shield=True):
            with suppress(rexc.RedisError, OSError):
                await self._connection.disconnect()


@asynccontextmanager
async def connect_node(
    name: str,
    endpoint: RedisEndpoint,
    tls: TLSClientFiles,
    credentials: Credentials,
    *,
    timeout: float = NODE_TIMEOUT_S,  # noqa: ASYNC109 - per command for the connection's life, not a deadline
    server_name: str | None = None,
    contexts: ContextCache | None = None,
    connect_timeout: float | None = None,
) -> AsyncIterator[RedisNode]:
    """Connect (TCP, TLS handshake, AUTH) to one node and yield it; closes on exit.

    ``connect_timeout`` bounds the connecting (default: ``timeout``, which bounds every
    command after it).

    ``name`` is only used in messages. ``server_name``, when given, is the name the node's
    certificate must carry; otherwise only the chain (our CA) is verified, since the engine
    dials host addresses that node certificates do not name. ``contexts`` keeps the TLS
    contexts for the next connections (``RedisAccess`` has one).
    """
    with _mapped(name, endpoint, None, timeout):
        context = client_context(tls, server_name is not None, contexts)
    dial = timeout if connect_timeout is None else connect_timeout
    connection = _NamedSSLConnection(
        server_name=server_name,
        context=context,
        host=endpoint.host,
        port=endpoint.port,
        username=credentials.username,
        password=credentials.password,
        ssl_cert_reqs="required",
        # no CLIENT SETINFO on connect: two round trips fewer, and no package metadata
        # lookup (1 ms of CPU) per connection
        driver_info=None,
        decode_responses=True,
        protocol=2,
        retry=Retry(NoBackoff(), 0),
        socket_timeout=timeout,
        socket_connect_timeout=dial,
    )
    node = RedisNode(name, endpoint, connection, timeout)
    try:
        with _mapped(name, endpoint, None, dial), anyio.fail_after(dial):
            await connection.connect()  # type: ignore[no-untyped-call]
        yield node
    finally:
        await node.close()


@dataclass(frozen=True)
class RedisAccess:
    """How the engine reaches every node of a stack: TLS identity, user, timeout; its TLS
    contexts are built on the first connection and shared by all that follow."""

    tls: TLSClientFiles
    credentials: Credentials
    timeout: float = NODE_TIMEOUT_S
    contexts: ContextCache = field(default_factory=dict, init=False, repr=False, compare=False)

    def connect(
        self,
        name: str,
        endpoint: RedisEndpoint,
        *,
        server_name: str | None = None,
        connect_timeout: float | None = None,
    ) -> AbstractAsyncContextManager[RedisNode]:
        """``connect_node`` with this access: ``async with access.connect(...) as node``."""
        return connect_node(
            name,
            endpoint,
            self.tls,
            self.credentials,
            timeout=self.timeout,
            server_name=server_name,
            contexts=self.contexts,
            connect_timeout=connect_timeout,
        )
