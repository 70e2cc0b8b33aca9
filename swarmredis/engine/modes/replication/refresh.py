"""Sentinels refresh their view every second while the engine waits on it.

A Sentinel learns its replicas' run ids, links and priorities from INFO, read every 10 s
(every second only during a failover). And while a node restarts, a Sentinel dials it
again at once, on an address that is no longer there; it keeps that dead link for
``SENTINEL_MIN_LINK_RECONNECT_PERIOD`` (15 s) before it dials again. Measured on the lab,
after each data node's restart in a rolling update, the Sentinels saw the new process
15 s later, every time; a handover waited as long for them to read the new priorities.

While the engine waits for a Sentinel's view (the bootstrap's checks, a handover), it
sets both periods with ``SENTINEL DEBUG`` (Redis >= 7.0): INFO every second, as during
a failover, and a dead link dropped after 2 s. After the wait, each Sentinel gets back
the values read from it (Redis's defaults when it shows the engine's own values: a
run killed during a wait leaves them, harmless, until the next wait or a restart).

A Sentinel without ``SENTINEL DEBUG`` (Redis 6.2), or one that refuses it, keeps its
periods: the waits take longer, nothing else changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager

import anyio

from swarmredis.engine.redis.replies import parse_pairs
from swarmredis.errors import SwarmRedisError
from swarmredis.gateway.redis import RedisNode

QUICK = {"info-period": "1000", "min-link-reconnect-period": "2000"}
DEFAULTS = {"info-period": "10000", "min-link-reconnect-period": "15000"}
RESTORE_WITHIN_S = 5.0


def to_restore(found: Mapping[str, str]) -> dict[str, str]:
    """The periods to set back after a wait, from a ``SENTINEL DEBUG`` listing (keys in
    any case): the values found, or Redis's defaults where they are the engine's own."""
    lower = {key.lower(): value for key, value in found.items()}
    values = {key: lower.get(key, DEFAULTS[key]) for key in QUICK}
    return dict(DEFAULTS) if values == QUICK else values


async def _quicken(sentinel: RedisNode) -> dict[str, str] | None:
    """Set the quick periods; return those to restore, or None (left as they were)."""
    try:
        found = await sentinel.read(parse_pairs, "SENTINEL", "DEBUG")
        await sentinel.execute("SENTINEL", "DEBUG", *_flat(QUICK))
    except SwarmRedisError:  # 6.2 (unknown subcommand), refused, or gone: slower waits
        return None
    return to_restore(found)


def _flat(values: Mapping[str, str]) -> list[str]:
    return [item for pair in values.items() for item in pair]


@asynccontextmanager
async def quick_views(sentinels: Sequence[RedisNode]) -> AsyncIterator[None]:
    """Within: every Sentinel of ``sentinels`` that accepts it refreshes every second."""
    restore: list[tuple[RedisNode, dict[str, str]]] = []

    async def one(sentinel: RedisNode) -> None:
        values = await _quicken(sentinel)
        if values is not None:
            restore.append((sentinel, values))

    async with anyio.create_task_group() as group:
        for sentinel in sentinels:
            group.start_soon(one, sentinel)
    try:
        yield
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(RESTORE_WITHIN_S):
            for sentinel, values in restore:
                try:
                    await sentinel.execute("SENTINEL", "DEBUG", *_flat(values))
                except SwarmRedisError:  # restarted meanwhile: its periods are defaults
                    continue
