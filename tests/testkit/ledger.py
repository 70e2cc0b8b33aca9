"""The write ledger: a writer that counts acknowledged writes, and the check that none was lost.

A fault test runs :func:`write_until` in a task while it breaks something. Each write is a
``SET key seq`` followed, on the same connection, by ``WAIT replicas timeout``: a write is
*confirmed* when SET answered OK and WAIT counted at least ``replicas`` replicas; it is
*unconfirmed* when SET answered OK but WAIT counted fewer (Redis replicates asynchronously:
such a write may be lost in a failover, and the figures report how many were). Anything
else (refused, timed out, connection lost) is *failed*: the client knows it did not land.

Where a write goes is the router's business (a cluster slot map, a Sentinel's answer), so
the same ledger serves every mode.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import redis.asyncio as aioredis
import redis.exceptions


class Router(Protocol):
    """Which connection a key's write goes to, and what to do when that connection failed."""

    async def client_for(self, key: str) -> aioredis.Redis: ...

    async def refresh(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass
class WriteLedger:
    """Every write the writer tried, by outcome; times are seconds since ``started``."""

    prefix: str
    started: float = field(default_factory=time.monotonic)
    confirmed: dict[str, str] = field(default_factory=dict)
    unconfirmed: dict[str, str] = field(default_factory=dict)
    failed: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    failure_times: list[float] = field(default_factory=list)
    streak: int = 0  # writes in a row that succeeded since the last failure

    def now(self) -> float:
        return time.monotonic() - self.started

    def last_failure_after(self, moment: float) -> float | None:
        """When the last write that failed after ``moment`` failed (None: none did)."""
        later = [t for t in self.failure_times if t >= moment]
        return max(later) if later else None

    def written(self) -> dict[str, str]:
        return {**self.confirmed, **self.unconfirmed}

    def summary(self) -> dict[str, object]:
        return {
            "confirmed": len(self.confirmed),
            "unconfirmed": len(self.unconfirmed),
            "failed": self.failed,
            "errors": dict(self.errors.most_common(5)),
        }


async def write_until(
    router: Router,
    ledger: WriteLedger,
    stop: anyio.Event,
    *,
    replicas: int = 1,
    wait_ms: int = 500,
    pause: float = 0.01,
) -> None:
    """Write ``PREFIX:seq`` keys until ``stop`` is set, recording each outcome in ``ledger``."""
    seq = 0
    while not stop.is_set():
        key, value = f"{ledger.prefix}:{seq}", str(seq)
        seq += 1
        try:
            with anyio.fail_after(3):
                client = await router.client_for(key)
                async with client.pipeline(transaction=False) as pipe:
                    pipe.set(key, value)
                    pipe.execute_command("WAIT", replicas, wait_ms)
                    ok, acked = await pipe.execute()
        except (redis.exceptions.RedisError, OSError, TimeoutError) as error:
            ledger.failed += 1
            ledger.errors[type(error).__name__ + ": " + str(error)[:60]] += 1
            ledger.failure_times.append(ledger.now())
            ledger.streak = 0
            with anyio.move_on_after(3):
                await router.refresh()
            await anyio.sleep(0.1)  # pace the retries while the cluster is broken
            continue
        if ok is not True:
            raise AssertionError(f"SET {key} answered {ok!r}")
        (ledger.confirmed if int(acked) >= replicas else ledger.unconfirmed)[key] = value
        ledger.streak += 1
        await anyio.sleep(pause)


Reader = Callable[[Sequence[str]], Awaitable[Sequence[bytes | None]]]


async def lost_writes(read: Reader, expected: dict[str, str], batch: int = 500) -> list[str]:
    """The keys of ``expected`` that do not read back with their value."""
    keys = list(expected)
    lost: list[str] = []
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        values = await read(chunk)
        lost += [k for k, v in zip(chunk, values, strict=True) if v != expected[k].encode()]
    return lost
