"""A Sentinel-aware client for the replication stack `itr` on the lab (its store under
``modes_dir``): the writer the rotation tests run under, and TLS clients of one node."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import redis.asyncio as aioredis
import redis.exceptions

from .faults import Figure, record
from .helpers import password
from .underload import longest_error_window


def node_client(modes_dir: Path, endpoint: tuple[str, int], user: str) -> aioredis.Redis:
    certs = modes_dir / "certs" / "itr"
    return aioredis.Redis(
        host=endpoint[0],
        port=endpoint[1],
        ssl=True,
        ssl_check_hostname=False,
        socket_timeout=5,
        ssl_ca_certs=str(certs / "ca.crt"),
        ssl_certfile=str(certs / "clients" / f"{user}.crt"),
        ssl_keyfile=str(certs / "clients" / f"{user}.key"),
        username=user,
        password=password(modes_dir / "certs", "itr", user),
    )


class SentinelWriter:
    """A Sentinel-aware client: asks Sentinel for the primary, writes ``prefix`` keys there
    until refused, asks again; counts acknowledged writes and refusals."""

    def __init__(
        self,
        modes_dir: Path,
        by_alias: dict[tuple[str, int], tuple[str, int]],
        sentinel: tuple[str, int],
        prefix: str,
    ) -> None:
        self.modes_dir, self.by_alias, self.sentinel = modes_dir, by_alias, sentinel
        self.prefix = prefix
        self.acknowledged: dict[str, str] = {}
        self.refused = 0
        self.started = anyio.Event()  # 20 writes acknowledged
        self.failure_times: list[float] = []

    async def during(
        self, command: Callable[[], subprocess.CompletedProcess[str]]
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (in a thread) while writing; its result."""
        done = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._write, done)
            with anyio.fail_after(30):  # writing before the command starts
                await self.started.wait()
            result = await anyio.to_thread.run_sync(command)
            done.set()
        return result

    async def _write(self, done: anyio.Event) -> None:
        i = 0
        ask = node_client(self.modes_dir, self.sentinel, "swarmredis-admin")
        try:
            while not done.is_set():
                try:
                    alias, port = await ask.execute_command(
                        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "itr"
                    )
                    target = self.by_alias[(alias.decode(), int(port))]
                    client = node_client(self.modes_dir, target, "web")
                    try:
                        while not done.is_set():
                            await client.set(f"{self.prefix}:{i}", str(i))
                            self.acknowledged[f"{self.prefix}:{i}"] = str(i)
                            if len(self.acknowledged) >= 20:
                                self.started.set()
                            i += 1
                            await anyio.sleep(0.01)
                    finally:
                        await client.aclose()
                except redis.exceptions.RedisError:  # READONLY, connection closed, ...
                    self.refused += 1
                    self.failure_times.append(time.monotonic())
                    i += 1
                    await anyio.sleep(0.2)
        finally:
            await ask.aclose()

    async def assert_nothing_lost(
        self, primary: tuple[str, int], figure: Figure, minimum: int = 100
    ) -> None:
        """Every acknowledged write reads back; the figure (docs/reliability.md) says how
        many there were and the longest run of refused writes."""
        reader = node_client(self.modes_dir, primary, "swarmredis-admin")
        try:
            keys = list(self.acknowledged)
            values = await reader.mget(keys)
        finally:
            await reader.aclose()
        lost = [k for k, v in zip(keys, values, strict=True) if v != self.acknowledged[k].encode()]
        figure.confirmed, figure.lost_confirmed = len(keys), len(lost)
        figure.failed = self.refused
        window = longest_error_window(self.failure_times)
        figure.notes.append(f"longest run of refused writes {window:.1f} s")
        record(figure)
        assert len(self.acknowledged) > minimum
        assert not lost, (
            f"{len(lost)} of {len(keys)} acknowledged writes lost ({self.refused} refused)"
        )


async def auth(modes_dir: Path, endpoint: tuple[str, int], user: str, secret: str) -> None:
    """AUTH as ``user`` with ``secret`` over TLS (the admin's certificate); raises if refused."""
    client = node_client(modes_dir, endpoint, "swarmredis-admin")
    try:
        await client.execute_command("AUTH", user, secret)
    finally:
        await client.aclose()
