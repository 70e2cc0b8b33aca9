"""Bounded waits that poll a condition: the only way a test waits for something to happen."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float = 30, what: str = "the condition"
) -> None:
    """Wait until ``check()`` holds, polling; fail the test after ``within`` seconds."""
    try:
        with anyio.fail_after(within):
            while True:
                if await check():
                    return
                await anyio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"{what} did not hold within {within:g} s") from None


def eventually_sync(
    check: Callable[[], bool], within: float = 30, what: str = "the condition", every: float = 0.5
) -> None:
    """The blocking form, for tests that drive the CLI and the lab from plain functions."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {within:g} s")
        time.sleep(every)
