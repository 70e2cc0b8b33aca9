"""Redis access over TLS: one connection per node, every wait bounded, errors mapped once.

The engine talks to Redis only through ``connect_node`` (or ``RedisAccess.connect``). Each
node gets exactly one ``redis.asyncio`` connection (no pool, no silent retries); every network
wait runs under ``anyio.fail_after``. Errors of redis.asyncio, ssl and the socket layer are
translated in ``redis_errors.mapped`` into the swarmredis error tree:

    RedisError                 a node refused a command (names node and command)
    ├── RedisAuthError         WRONGPASS / NOAUTH / NOPERM: TLS worked, the user did not
    ├── RedisReplyError        an answer that is not RESP, or that its parser cannot read
    └── RedisUnreachable       no usable connection: TCP refused, timed out or lost
        └── RedisTLSError      TCP worked, the TLS handshake did not (CA, certificate)
            └── RedisHandshakeClosed  closed mid-handshake: refused certificate or killed

Replies are returned raw (``str``, ``int``, lists); ``swarmredis.engine.redis.replies``
parses them, so this module stays the only one that knows redis.asyncio. A parser runs
through ``RedisNode.decode`` (or ``read``): a reply it cannot read (a ValueError, TypeError,
IndexError, KeyError or AttributeError of the parser) becomes a ``RedisReplyError`` naming
the node, its endpoint and the command, here and nowhere else.
"""

from __future__ import annotations

import itertools
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import (
    AbstractAsyncContextManager,
    asynccontextmanager,
    suppress,
)
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import anyio
import redis.exceptions as rexc
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from swarmredis.constants import NODE_TIMEOUT_S
from swarmredis.errors import (
    RedisAuthError,
    RedisError,
    RedisReplyError,
)
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.gateway.redis_errors import mapped, refusal
from swarmredis.gateway.tls import ContextCache as ContextCache
from swarmredis.gateway.tls import TLSClientFiles as TLSClientFiles
from swarmredis.gateway.tls import client_context as client_context

Reply: TypeAlias = "str | bytes | int | float | list[Reply] | dict[str, Reply] | None"
Arg: TypeAlias = str | int | float | bytes
T = TypeVar("T")
# what a pure parser raises on a reply of the wrong shape or type (decode maps them)
PARSE_ERRORS = (ValueError, TypeError, IndexError, KeyError, AttributeError)
_SHOWN = 120  # characters of an unreadable reply quoted in messages


@dataclass(frozen=True)
class Credentials:
    """ACL user the engine authenticates as. ``previous``: the password to try when a node
    refuses ``password`` at connect, while a rotation of this user's password runs (a
    rotation stopped before it added the new one live leaves nodes that know only the
    previous one)."""

    username: str
    password: str = field(repr=False)
    previous: str | None = field(default=None, repr=False)


class _NamedSSLConnection(SSLConnection):
    """SSL connection with the engine's own context, checking the certificate against a
    given name, not the address: the engine dials host addresses, while node
    certificates name the node (its alias)."""

    def __init__(
        self, *, server_name: str | None, context: ssl.SSLContext | None, **kwargs: Any
    ) -> None:
        self._server_name = server_name
        self._context = context
        super().__init__(ssl_check_hostname=server_name is not None, **kwargs)

    def _connection_arguments(self) -> Mapping[str, Any]:
        # the plain connection's arguments: SSLConnection's own would build redis-py's
        # context (with the system's CA store: 20 ms of CPU each) only to be replaced
        arguments = dict(Connection._connection_arguments(self))
        if self._context is None:  # plain TCP (RedisAccess.tls None)
            return arguments
        arguments["ssl"] = self._context
        if self._server_name is not None:
            arguments["server_hostname"] = self._server_name
        return arguments


def _command_label(args: tuple[Arg, ...]) -> str:
    words = [a.decode() if isinstance(a, bytes) else str(a) for a in args[:2]]
    if len(words) == 2 and not words[1].isalpha():
        words = words[:1]
    return " ".join(words).upper()


def _text(reply: Reply) -> str:
    if not isinstance(reply, str):
        raise TypeError(f"expected text, got {type(reply).__name__}")
    return reply


def _list(reply: Reply) -> list[Reply]:
    if not isinstance(reply, list):
        raise TypeError(f"expected a list, got {type(reply).__name__}")
    return reply


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

    @property
    def connection(self) -> SSLConnection:
        """The connection underneath (dialled by ``connect_node``)."""
        return self._connection

    async def execute(self, *args: Arg, raw: bool = False) -> Reply:
        """Send one command and return its reply (errors mapped, under the timeout);
        ``raw``: bulk strings undecoded, for binary replies (``DUMP``)."""
        label = _command_label(args)
        with mapped(self.name, self.endpoint, label, self.timeout), anyio.fail_after(self.timeout):
            await self._connection.send_command(*args)
            reply: Reply = await self._connection.read_response(disable_decoding=raw)
        return reply

    async def pipeline(self, *commands: tuple[Arg, ...]) -> list[Reply | RedisError]:
        """Send several commands in one write and read their replies in order: one round
        trip. A command the node refuses gives its error in its place (the connection stays
        usable); a lost connection or the timeout raises, as ``execute`` does."""
        labels = [_command_label(c) for c in commands]
        replies: list[Reply | RedisError] = []
        runs = ((label, len(list(same))) for label, same in itertools.groupby(labels))
        what = " + ".join(f"{n} x {label}" if n > 1 else label for label, n in runs)
        with mapped(self.name, self.endpoint, what, self.timeout), anyio.fail_after(self.timeout):
            packed = self._connection.pack_commands(commands)
            await self._connection.send_packed_command(packed)
            for label in labels:
                try:
                    replies.append(await self._connection.read_response())
                except rexc.ResponseError as exc:
                    replies.append(refusal(self.name, self.endpoint, label, exc, self.timeout))
        return replies

    def decode(self, command: str, parse: Callable[[Any], T], reply: Reply | RedisError) -> T:
        """``parse(reply)`` of this node's answer to ``command``; a refusal is raised, and a
        reply the parser cannot read becomes ``RedisReplyError`` (node, endpoint, command)."""
        if isinstance(reply, RedisError):
            raise reply
        try:
            return parse(reply)
        except PARSE_ERRORS as exc:
            raise self.unexpected(command, reply, str(exc)) from None

    async def read(self, parse: Callable[[Any], T], *args: Arg) -> T:
        """Run a command and ``decode`` its reply with ``parse``."""
        return self.decode(_command_label(args), parse, await self.execute(*args))

    def unexpected(self, command: str, reply: Reply, why: str = "") -> RedisReplyError:
        """The error for a reply of the wrong type or shape (quoted, shortened)."""
        shown = repr(reply)
        shown = shown if len(shown) <= _SHOWN else shown[:_SHOWN] + "..."
        because = f" ({why})" if why and why not in shown else ""
        return RedisReplyError(
            f"{self.name} at {self.endpoint}: {command}: unexpected reply {shown}{because}",
            node=self.name,
            endpoint=str(self.endpoint),
            command=command,
        )

    async def text(self, *args: Arg) -> str:
        """Run a command whose reply is a bulk string (INFO, CLUSTER NODES, ...)."""
        return await self.read(_text, *args)

    async def ping(self) -> None:
        """PING; raises unless the node answers PONG."""
        reply = await self.execute("PING")
        if reply not in ("PONG", True):
            raise self.unexpected("PING", reply)

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
        return await self.read(_list, "ROLE")

    async def close(self) -> None:
        """Close the connection; never raises, never waits more than a second."""
        with anyio.move_on_after(1.0, shield=True):
            with suppress(rexc.RedisError, OSError):
                await self._connection.disconnect()


@asynccontextmanager
async def connect_node(
    name: str,
    endpoint: RedisEndpoint,
    tls: TLSClientFiles | None,
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
    with mapped(name, endpoint, None, timeout):
        context = client_context(tls, server_name is not None, contexts) if tls else None
    dial = timeout if connect_timeout is None else connect_timeout

    def connection(password: str) -> _NamedSSLConnection:
        return _NamedSSLConnection(
            server_name=server_name,
            context=context,
            host=endpoint.host,
            port=endpoint.port,
            username=credentials.username,
            password=password,
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

    node = RedisNode(name, endpoint, connection(credentials.password), timeout)
    try:
        try:
            await _dial(node, dial)
        except RedisAuthError:
            if credentials.previous is None:
                raise
            await node.close()
            node = RedisNode(name, endpoint, connection(credentials.previous), timeout)
            await _dial(node, dial)
        yield node
    finally:
        await node.close()


async def _dial(node: RedisNode, seconds: float) -> None:
    """TCP, the TLS handshake and AUTH, within ``seconds``."""
    with mapped(node.name, node.endpoint, None, seconds), anyio.fail_after(seconds):
        await node.connection.connect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class RedisAccess:
    """How the engine reaches every node of a stack: TLS identity, user, timeout; its TLS
    contexts are built on the first connection and shared by all that follow. ``tls``
    None is plain TCP: never for a stack (TLS only), for a server built without TLS
    (the atomic slot migration peer tests' Valkey 9)."""

    tls: TLSClientFiles | None
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
