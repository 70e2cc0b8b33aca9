"""What the fault scenarios share: routers for the write ledger, lab fault timing, figures.

Clients run on the manager's side of the lab bridge and dial each node's published port;
node certificates name overlay aliases, so the chain is verified but not the name.
"""

from __future__ import annotations

import json
import subprocess
import time
from bisect import bisect_right
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import Any

import anyio
import redis.asyncio as aioredis
from redis.crc import key_slot
from testkit import eventually, eventually_sync
from testkit.ledger import Reader, Router, WriteLedger, lost_writes, write_until
from testkit.tls import redis_client

from .conftest import LAB, SwarmLab
from .helpers import ROOT, DeployedStack, cluster_client, password

Endpoint = tuple[str, int]
Remap = dict[Endpoint, Endpoint]


def node_client(
    certs: Path, stack: str, endpoint: Endpoint, user: str, timeout: float = 2
) -> aioredis.Redis:
    """The TLS client of one node's published endpoint as ``user`` (testkit.tls)."""
    return redis_client(endpoint, certs / stack, user, timeout_s=timeout)


class _Clients:
    """One client per published endpoint, made on first use."""

    def __init__(self, certs: Path, stack: str, user: str) -> None:
        self.certs, self.stack, self.user = certs, stack, user
        self._by_endpoint: dict[Endpoint, aioredis.Redis] = {}

    def get(self, endpoint: Endpoint) -> aioredis.Redis:
        if endpoint not in self._by_endpoint:
            self._by_endpoint[endpoint] = node_client(self.certs, self.stack, endpoint, self.user)
        return self._by_endpoint[endpoint]

    async def aclose(self) -> None:
        for client in self._by_endpoint.values():
            await client.aclose()


class ClusterRouter:
    """Routes a key to its slot's primary, from ``CLUSTER SLOTS`` of any node that answers."""

    def __init__(self, certs: Path, stack: str, remap: Remap, user: str) -> None:
        self.remap = remap
        self.clients = _Clients(certs, stack, user)
        self._starts: list[int] = []
        self._owners: list[Endpoint | None] = []

    async def refresh(self) -> None:
        for endpoint in self.remap.values():
            slots = None
            with anyio.move_on_after(1):  # a dead host's SYN goes unanswered: ask the next
                try:
                    slots = await self.clients.get(endpoint).execute_command("CLUSTER SLOTS")
                except Exception:
                    continue
            if slots is None:
                continue
            ranges = sorted(
                (int(start), int(end), self._published(entry[2]))
                for (start, end), entry in ((row[:2], row) for row in slots)
            )
            self._starts = [start for start, _, _ in ranges]
            self._owners = [owner for _, _, owner in ranges]
            return

    def _published(self, node: Sequence[Any]) -> Endpoint:
        name = node[0].decode() if isinstance(node[0], bytes) else str(node[0])
        return self.remap.get((name, int(node[1])), (name, int(node[1])))

    async def client_for(self, key: str) -> aioredis.Redis:
        if not self._starts:
            await self.refresh()
        index = bisect_right(self._starts, key_slot(key.encode())) - 1
        owner = self._owners[index] if index >= 0 else None
        if owner is None:
            raise OSError(f"no known primary for {key}")
        return self.clients.get(owner)

    async def aclose(self) -> None:
        await self.clients.aclose()


class SentinelRouter:
    """Writes go where the Sentinels say the primary is (a Sentinel-aware client)."""

    def __init__(
        self, certs: Path, stack: str, remap: Remap, sentinels: list[Endpoint], user: str
    ) -> None:
        self.stack, self.remap, self.sentinels = stack, remap, sentinels
        self.admin = _Clients(certs, stack, "swarmredis-admin")
        self.clients = _Clients(certs, stack, user)
        self._primary: Endpoint | None = None

    async def refresh(self) -> None:
        for sentinel in self.sentinels:
            answer = None
            with anyio.move_on_after(1):  # a dead host's SYN goes unanswered: ask the next
                try:
                    answer = await self.admin.get(sentinel).execute_command(
                        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.stack
                    )
                except Exception:
                    continue
            if answer is None:
                continue
            host, port = answer
            name = host.decode() if isinstance(host, bytes) else str(host)
            self._primary = self.remap.get((name, int(port)), (name, int(port)))
            return

    async def client_for(self, key: str) -> aioredis.Redis:
        if self._primary is None:
            await self.refresh()
        if self._primary is None:
            raise OSError("no Sentinel answered")
        return self.clients.get(self._primary)

    async def aclose(self) -> None:
        await self.admin.aclose()
        await self.clients.aclose()


# ---------------------------------------------------------------- scenario steps


def healthy_in_planned_roles(d: DeployedStack) -> bool:
    code, report = d.status()
    return code == 0 and all(n["role"] == n["planned_role"] for n in report["nodes"])


def names_the_fault(d: DeployedStack, node: str, host: str) -> bool:
    """status exits non-zero with a problem about ``node``, which it places on ``host``."""
    code, report = d.status()
    where = {n["name"]: n["host"] for n in report["nodes"]}
    return (
        code != 0 and where.get(node) == host and any(p["node"] == node for p in report["problems"])
    )


@asynccontextmanager
async def writing(router: Router, prefix: str) -> AsyncIterator[WriteLedger]:
    """A writer of ``prefix:N`` keys through ``router``, running while the block runs."""
    ledger = WriteLedger(prefix)
    stop = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(write_until, router, ledger, stop)
            try:
                await eventually(lambda: _wrote(ledger, 50), 30, "the first 50 writes")
                yield ledger
            finally:
                stop.set()
    finally:
        await router.aclose()


async def _wrote(ledger: WriteLedger, count: int) -> bool:
    return len(ledger.confirmed) >= count


async def settle_writes(ledger: WriteLedger, streak: int = 60) -> None:
    """Wait until ``streak`` writes in a row succeeded: with keys spread over every slot,
    every primary answers again (60 keys all missing one shard of three: (2/3)^60)."""

    async def recovered() -> bool:
        return ledger.streak >= streak

    what = f"{streak} writes in a row without a failure ({ledger.summary()})"
    await eventually(recovered, 120, what)


async def timed(check: Any, within: float, what: str) -> float:
    """Seconds until the blocking ``check()`` holds (polled in a thread, under a deadline)."""
    start = time.monotonic()
    await anyio.to_thread.run_sync(lambda: eventually_sync(check, within, what, every=0.5))
    return time.monotonic() - start


def container_of(lab: SwarmLab, k: int, service: str) -> str:
    """The id of ``service``'s running container on lab host ``k``."""
    out = lab.docker(k, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={service}")
    ids = out.split()
    assert len(ids) == 1, f"{service} on lab-h{k}: containers {ids}"
    return ids[0]


def minority_incr(
    lab: SwarmLab, d: DeployedStack, k: int, node: str, key: str, user: str
) -> Popen[str]:
    """``redis-cli -r 300 -i 0.1 INCR key`` inside ``node``'s container on cut-off host ``k``:
    the minority side's own client (the docker socket is a file, not the cut link)."""
    container = container_of(lab, k, f"{d.stack}_{node}")
    secrets = "/run/secrets"
    auth = f"REDISCLI_AUTH={password(d.certs, d.stack, user)}"
    tls = ["--tls", "--cacert", f"{secrets}/ca.crt"]
    tls += ["--cert", f"{secrets}/{node}.crt", "--key", f"{secrets}/{node}.key"]
    command = ["redis-cli", *tls, "--user", user, "-p", "6379", "-r", "300", "-i", "0.1"]
    return Popen(
        [str(LAB), "docker", str(k), "exec", "-e", auth, container, *command, "INCR", key],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def count_cluster_losses(d: DeployedStack, ledger: WriteLedger, figure: Figure) -> None:
    """Read every written key back through a cluster client; fill in the figure's counts."""
    client = await cluster_client(d.stack, d.certs, d.lab.docker_host, "swarmredis-admin")
    try:
        await fill_losses(figure, ledger, client.mget_nonatomic)
    finally:
        await client.aclose()


async def fill_losses(figure: Figure, ledger: WriteLedger, read: Reader) -> None:
    """Read every key the writer wrote back with ``read``; fill in the figure's counts."""
    lost_confirmed = await lost_writes(read, ledger.confirmed)
    lost_unconfirmed = await lost_writes(read, ledger.unconfirmed)
    figure.confirmed, figure.lost_confirmed = len(ledger.confirmed), len(lost_confirmed)
    figure.unconfirmed, figure.lost_unconfirmed = len(ledger.unconfirmed), len(lost_unconfirmed)
    figure.failed = ledger.failed


# ---------------------------------------------------------------- figures

FIGURES = ROOT / "docs" / "benchmarks" / "reliability.json"
REPORT = ROOT / "docs" / "reliability.md"


@dataclass
class Figure:
    """One scenario's measured outcome, as docs/reliability.md shows it."""

    scenario: str
    mode: str
    fault: str
    detect_s: float | None = None  # fault -> status exits 1 naming the node and host
    recover_s: float | None = None  # fault -> every write succeeds again
    restored_s: float | None = None  # repair (revive, heal, deploy) -> healthy, planned roles
    confirmed: int = 0
    lost_confirmed: int = 0
    unconfirmed: int = 0
    lost_unconfirmed: int = 0
    failed: int = 0
    notes: list[str] = field(default_factory=list)
    commit: str = ""
    ran_at: str = ""

    def round(self) -> None:
        for name in ("detect_s", "recover_s", "restored_s"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, round(value, 1))


def _commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=10,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "swarmredis"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=10,
    ).stdout.strip()
    return (head or "unknown") + ("+changes" if dirty else "")


def record(figure: Figure) -> None:
    """Add (or replace) ``figure`` in docs/benchmarks/reliability.json and rewrite the report."""
    figure.round()
    figure.commit = _commit()
    figure.ran_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = json.loads(FIGURES.read_text()) if FIGURES.exists() else []
    rows = [row for row in rows if row["scenario"] != figure.scenario] + [asdict(figure)]
    rows.sort(key=lambda row: row["scenario"])
    FIGURES.write_text(json.dumps(rows, indent=2) + "\n")
    REPORT.write_text(render(rows))


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def render(rows: list[dict[str, Any]]) -> str:
    """docs/reliability.md from the recorded figures."""
    lines = [
        "# Reliability: faults on the lab, with figures",
        "",
        "Generated by the fault scenarios of the test suite (`tests/integration/test_faults_*.py`)",
        "on the 3-host lab; each run of a scenario replaces its row here and in",
        "`docs/benchmarks/reliability.json`. Do not edit by hand.",
        "",
        "- **detect**: from the fault until `swarmredis status` exits 1 naming the node and host.",
        "- **recover**: from the fault until the writer's writes succeed again (the last failed",
        "  write).",
        "- **restored**: from the repair (host back, link healed, or the restart) until `status`",
        "  is healthy with every node in its planned role.",
        "- **writes**: the writer's `SET` + `WAIT 1 500` on one connection. *Confirmed*: a",
        "  replica had it; *unconfirmed*: OK from the primary but no replica had it yet (Redis",
        "  replicates asynchronously; a failover may drop these, and the table says how many it",
        "  did). Confirmed writes lost must be 0, and the test fails otherwise.",
        "",
        "| scenario | mode | detect | recover | restored | confirmed (lost) "
        "| unconfirmed (lost) | failed | commit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['scenario']} | {row['mode']} | {_s(row['detect_s'])} | "
            f"{_s(row['recover_s'])} | {_s(row['restored_s'])} | "
            f"{row['confirmed']} ({row['lost_confirmed']}) | "
            f"{row['unconfirmed']} ({row['lost_unconfirmed']}) | {row['failed']} | "
            f"{row['commit']} |"
        )
    lines += ["", "## Scenarios", ""]
    for row in rows:
        lines.append(f"### {row['scenario']}")
        lines.append("")
        lines.append(f"{row['fault']} (ran {row['ran_at']}, commit {row['commit']})")
        lines.append("")
        lines += [f"- {note}" for note in row["notes"]]
        lines.append("")
    return "\n".join(lines)
