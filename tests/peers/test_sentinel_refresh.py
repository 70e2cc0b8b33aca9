"""Sentinels refresh every second while the engine waits on them, and get their periods back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from swarmredis.engine.modes.base import Member
from swarmredis.engine.modes.replication.refresh import DEFAULTS, QUICK, quick_views
from swarmredis.engine.redis.replies import parse_pairs
from swarmredis.gateway.redis import RedisAccess, RedisNode

from .servers import Lab
from .test_replication import start

pytestmark = pytest.mark.anyio


@pytest.fixture
async def sentinels(lab: Lab, access: RedisAccess) -> AsyncIterator[list[RedisNode]]:
    members: list[Member] = start(lab)[2]
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(access.connect(m.name, m.endpoint)) for m in members]


async def _periods(sentinel: RedisNode) -> dict[str, str]:
    found = await sentinel.read(parse_pairs, "SENTINEL", "DEBUG")
    return {key.lower(): value for key, value in found.items() if key.lower() in QUICK}


async def test_quick_within_the_wait_and_the_periods_found_after(
    sentinels: list[RedisNode],
) -> None:
    """A Sentinel with its own periods gets them back; one left quick by a killed run
    gets Redis's defaults; within the wait, every one refreshes every second."""
    own = {"info-period": "7000", "min-link-reconnect-period": "12000"}
    await sentinels[0].execute("SENTINEL", "DEBUG", *[x for kv in own.items() for x in kv])
    await sentinels[1].execute("SENTINEL", "DEBUG", *[x for kv in QUICK.items() for x in kv])
    async with quick_views(sentinels):
        for sentinel in sentinels:
            assert await _periods(sentinel) == QUICK
    assert await _periods(sentinels[0]) == own
    assert await _periods(sentinels[1]) == DEFAULTS
    assert await _periods(sentinels[2]) == DEFAULTS


async def test_a_failed_wait_restores_the_periods(sentinels: list[RedisNode]) -> None:
    with pytest.raises(RuntimeError, match="the wait failed"):
        async with quick_views(sentinels):
            raise RuntimeError("the wait failed")
    for sentinel in sentinels:
        assert await _periods(sentinel) == DEFAULTS
