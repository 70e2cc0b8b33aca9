"""Concurrency plumbing shared by every mode: fan out over nodes, connect to all, wait until
conditions hold. Every wait is bounded; errors of several nodes come back together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Protocol, TypeVar

import anyio

from swarmredis.constants import DEFAULT_CONCURRENCY
from swarmredis.engine.polling import Backoff
from swarmredis.errors import (
    DeployTimeout,
    RedisHandshakeClosed,
    RedisTLSError,
    RedisUnreachable,
    SwarmRedisError,
)
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.gateway.redis import RedisAccess, RedisNode

T = TypeVar("T")
R = TypeVar("R")

HANDSHAKE_ATTEMPTS = 3
DIAL_FIRST = 0.25  # seconds for a first connection attempt (TCP, TLS, AUTH); doubles


class Reachable(Protocol):
    """Anything the engine can dial: a name for messages, an endpoint, a certificate name."""

    @property
    def name(self) -> str: ...

    @property
    def endpoint(self) -> RedisEndpoint: ...

    @property
    def server_name(self) -> str | None: ...


def bounded(limiter: anyio.CapacityLimiter | None) -> anyio.CapacityLimiter:
    """The caller's limiter, or a fresh one of the default concurrency."""
    return limiter or anyio.CapacityLimiter(DEFAULT_CONCURRENCY)


def raise_collected(errors: Sequence[SwarmRedisError], what: str) -> None:
    """Raise nothing, the one error, or an ExceptionGroup of all of them."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ExceptionGroup(what, list(errors))


async def fan_out(
    items: Sequence[T],
    fn: Callable[[T], Awaitable[R]],
    *,
    limiter: anyio.CapacityLimiter,
    what: str = "several nodes failed",
) -> list[R]:
    """Run ``fn`` on every item concurrently (bounded by ``limiter``), results in order.

    A failing item does not cancel the others: all our errors are collected and raised
    together once every item has finished.
    """
    results: dict[int, R] = {}
    errors: list[SwarmRedisError] = []

    async def one(index: int, item: T) -> None:
        async with limiter:
            try:
                results[index] = await fn(item)
            except SwarmRedisError as error:
                errors.append(error)

    async with anyio.create_task_group() as tg:
        for index, item in enumerate(items):
            tg.start_soon(one, index, item)
    raise_collected(errors, what)
    return [results[i] for i in range(len(items))]


async def _connect_when_ready(
    stack: AsyncExitStack, target: Reachable, access: RedisAccess, ready_timeout: float
) -> RedisNode:
    """Dial until the node accepts us and answers PING; a node that just started may
    refuse for a while, or accept and still be loading its dataset: AUTH, INFO and ROLE
    work then, but a command without Redis's ``loading`` flag (PING, and some of what the
    bootstrap reads) is refused with ``LOADING`` (seen on the lab: a rolling restart of a
    primary with 20,000 keys failed its bootstrap read). Both are retried.

    TLS and auth failures are not retried: they do not fix themselves. A connection
    closed mid-handshake is ambiguous (refused certificate, or killed meanwhile): it gets
    ``HANDSHAKE_ATTEMPTS`` tries.

    Each attempt gets ``DIAL_FIRST`` seconds at first, doubling up to the access's
    timeout: a SYN sent to a port that a just-started container is still being wired to is
    dropped, and the kernel would resend it only after its 1 s initial retransmission
    timeout; a new attempt goes out at once.
    """
    backoff, attempt = Backoff(), min(DIAL_FIRST, access.timeout)
    last: RedisUnreachable | None = None
    closed = 0
    with anyio.move_on_after(ready_timeout):
        while True:
            try:
                node = await stack.enter_async_context(
                    access.connect(
                        target.name,
                        target.endpoint,
                        server_name=target.server_name,
                        connect_timeout=attempt,
                    )
                )
                try:
                    await node.ping()
                except RedisUnreachable:
                    await node.close()  # the exit stack closes it again: harmless
                    raise
                return node
            except RedisHandshakeClosed:
                closed += 1
                if closed >= HANDSHAKE_ATTEMPTS:
                    raise
            except RedisTLSError:
                raise
            except RedisUnreachable as error:
                last = error
            await anyio.sleep(backoff.delay())
            attempt = min(attempt * 2, access.timeout)
    if last is None:
        last = RedisUnreachable(f"{target.name} at {target.endpoint}: no connection")
    raise RedisUnreachable(f"{last.message} (still after {ready_timeout:g}s)")


@asynccontextmanager
async def connect_all(
    targets: Sequence[Reachable],
    access: RedisAccess,
    *,
    limiter: anyio.CapacityLimiter,
    ready_timeout: float = 30.0,
) -> AsyncIterator[dict[str, RedisNode]]:
    """Connect to every target concurrently (retrying while they start); close all on exit.

    Yields ``{name: RedisNode}``. If any target stays unreachable, all errors are raised
    together and the connections already made are closed.
    """
    async with AsyncExitStack() as stack:

        async def dial(target: Reachable) -> RedisNode:
            return await _connect_when_ready(stack, target, access, ready_timeout)

        nodes = await fan_out(targets, dial, limiter=limiter, what="cannot reach Redis nodes")
        yield {target.name: node for target, node in zip(targets, nodes, strict=True)}


def _transient(error: BaseException) -> list[str]:
    """Messages of lost connections (the next command dials again); re-raise anything else."""
    leaves = list(_leaves(error))
    if not all(isinstance(e, RedisUnreachable) for e in leaves):
        raise error
    return [str(e) for e in leaves]


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for e in error.exceptions for leaf in _leaves(e)]
    return [error]


async def wait_until(
    pending: Callable[[], Awaitable[list[str]]], *, within: float, what: str
) -> None:
    """Call ``pending`` with a short backoff until it returns no unmet conditions.

    A node that drops our connection meanwhile counts as an unmet condition, not an error.

    Raises DeployTimeout naming what was still unmet when ``within`` seconds ran out.
    """
    backoff = Backoff()
    unmet: list[str] = [f"{what}: not checked yet"]
    with anyio.move_on_after(within):
        while True:
            checked = anyio.current_time()
            try:
                unmet = await pending()
            except (RedisUnreachable, ExceptionGroup) as error:
                unmet = _transient(error)  # e.g. Sentinel kills clients when it reconfigures
            if not unmet:
                return
            await anyio.sleep(backoff.delay(took=anyio.current_time() - checked))
    shown = "; ".join(unmet[:6]) + (f"; and {len(unmet) - 6} more" if len(unmet) > 6 else "")
    raise DeployTimeout(
        f"{what}: not reached within {within:g}s: {shown}", stage=what, pending=unmet
    )
