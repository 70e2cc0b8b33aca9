"""A CLI run (deploy, certs rotate, ...) while a client writes through a slot map that
follows the stack's published endpoints; the longest run of failed writes it saw."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio
from testkit.ledger import WriteLedger

from .conftest import SwarmLab
from .faults import ClusterRouter, Figure, settle_writes, writing
from .helpers import DeployedStack
from .runs import Rerun, rerun


@asynccontextmanager
async def following(d: DeployedStack) -> AsyncIterator[dict[tuple[str, int], tuple[str, int]]]:
    """The stack's alias -> published endpoint map, kept up to date from status every
    2 s while the block runs (a new node appears in it once its service exists)."""
    remap = await anyio.to_thread.run_sync(d.endpoints)
    async with anyio.create_task_group() as tg:

        async def refresh() -> None:
            while True:
                await anyio.sleep(2)
                remap.update(await anyio.to_thread.run_sync(d.endpoints))

        tg.start_soon(refresh)
        yield remap
        tg.cancel_scope.cancel()


async def run_under_a_writer(
    d: DeployedStack,
    lab: SwarmLab,
    prefix: str,
    figure: Figure,
    *,
    command: tuple[str, ...] = ("deploy",),
    extra: tuple[str, ...] = (),
    within: float = 400,
    user: str = "app",
) -> tuple[Rerun, WriteLedger]:
    """`COMMAND STACKFILE --json` to its end (exit 0) while a client writes ``prefix``
    keys; the run, what the writer saw, and the figure's times."""
    async with following(d) as remap:
        router = ClusterRouter(d.certs, d.stack, remap, user)
        async with writing(router, prefix) as ledger:
            started = ledger.now()
            run = await anyio.to_thread.run_sync(
                lambda: rerun(d.stack_file, d.certs, lab, command, extra, within)
            )
            assert run.code == 0, run.stderr[-3000:] + json.dumps(run.events[-5:])
            await settle_writes(ledger)
            figure.restored_s = run.seconds
            figure.recover_s = (ledger.last_failure_after(started) or started) - started
    return run, ledger


def longest_error_window(failure_times: Sequence[float], gap: float = 0.5) -> float:
    """The longest run of failed writes (failures closer than ``gap`` s to the previous
    one: the writer retries every 0.1 s) in seconds, from its first to its last."""
    longest, start, last = 0.0, None, None
    for moment in failure_times:
        if last is None or moment - last > gap:
            start = moment
        last = moment
        longest = max(longest, moment - (start or moment))
    return longest
