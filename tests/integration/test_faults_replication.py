"""Faults of a primary + 2 replicas + 3 Sentinels on the lab, with figures.

The primary's host lost and back, every Sentinel restarted at once, the primary's host cut
off and healed. A Sentinel-aware writer (:class:`faults.SentinelRouter`) writes through each
fault; afterwards exactly one primary is left, every Sentinel names it, the old primary is a
replica, and every confirmed write reads back. Each scenario ends with `deploy` giving the
planned roles back, and records its figures in docs/reliability.md.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import redis.exceptions
from testkit import eventually
from testkit.ledger import WriteLedger

from .conftest import LAB, SwarmLab
from .faults import (
    Endpoint,
    Figure,
    SentinelRouter,
    fill_losses,
    minority_incr,
    names_the_fault,
    node_client,
    record,
    settle_writes,
    timed,
    writing,
)
from .helpers import DeployedStack, deployed_stack

STACK = "itfr"
USER = "web"  # the stack's user: keys session:* and cart:*, +@write, WAIT (+@connection)
DATA = ("node-1", "node-2", "node-3")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")

pytestmark = pytest.mark.logs_on_failure(*(f"{STACK}_{n}" for n in DATA + SENTINELS))


@pytest.fixture(scope="module")
def stack(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedStack]:
    try:
        with deployed_stack(
            swarm_lab, tmp_path_factory.mktemp(STACK), "replication", STACK, 8200
        ) as d:
            yield d
    finally:
        for k in range(2, swarm_lab.size + 1):  # whatever a failed scenario left broken
            swarm_lab.run("heal-host", str(k))
        subprocess.run([str(LAB), "up", str(swarm_lab.size)], check=True, timeout=600)


def sentinel_router(d: DeployedStack) -> SentinelRouter:
    remap = d.endpoints()
    sentinels = [remap[(f"{STACK}-{s}", 6379)] for s in SENTINELS]
    return SentinelRouter(d.certs, STACK, remap, sentinels, USER)


async def primaries(d: DeployedStack) -> dict[str, list[str]]:
    """What each answering party says the primary is: data nodes that say ROLE master
    (key "ROLE"), and each Sentinel's GET-MASTER-ADDR-BY-NAME (key: the sentinel)."""
    remap = d.endpoints()
    seen: dict[str, list[str]] = {"ROLE": []}
    for name in DATA:
        client = node_client(d.certs, STACK, remap[(f"{STACK}-{name}", 6379)], "swarmredis-admin")
        try:
            role = await client.execute_command("ROLE")
            if role[0] in (b"master", "master"):
                seen["ROLE"].append(name)
        except (redis.exceptions.RedisError, OSError):
            pass  # not answering: it is no primary anyone can write to
        finally:
            await client.aclose()
    for name in SENTINELS:
        client = node_client(d.certs, STACK, remap[(f"{STACK}-{name}", 6379)], "swarmredis-admin")
        try:
            host, _ = await client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", STACK)
            seen[name] = [host.decode().removeprefix(f"{STACK}-")]
        except (redis.exceptions.RedisError, OSError):
            seen[name] = []  # not answering (yet): it names nobody
        finally:
            await client.aclose()
    return seen


async def one_primary_named_by_every_sentinel(d: DeployedStack) -> str:
    """No split brain: one data node says it is the primary and every Sentinel names it."""
    seen: dict[str, list[str]] = {}

    async def agreed() -> bool:
        nonlocal seen
        seen = await primaries(d)
        return len(seen["ROLE"]) == 1 and all(seen[s] == seen["ROLE"] for s in SENTINELS)

    try:
        await eventually(agreed, 60, "one primary that every Sentinel names")
    except AssertionError as error:
        raise AssertionError(f"{error}: {seen}") from None
    return seen["ROLE"][0]


async def primary_off_the_manager(d: DeployedStack) -> tuple[str, int]:
    """The primary and its lab host, never host 1 (the Swarm manager): if the primary runs
    there, a Sentinel hands the role to a replica on another host first."""
    _, report = await anyio.to_thread.run_sync(d.status)
    hosts = {n["name"]: int(n["host"].removeprefix("lab-h")) for n in report["nodes"]}
    primary = await one_primary_named_by_every_sentinel(d)
    if hosts[primary] != 1:
        return primary, hosts[primary]
    remap = d.endpoints()
    ask = node_client(d.certs, STACK, remap[(f"{STACK}-sentinel-1", 6379)], "swarmredis-admin")
    try:
        await ask.execute_command("SENTINEL", "FAILOVER", STACK)
    finally:
        await ask.aclose()

    async def moved() -> bool:
        seen = await primaries(d)
        return seen["ROLE"] != [primary] and len(seen["ROLE"]) == 1

    await eventually(moved, 60, f"the primary role away from {primary} on lab-h1")
    primary = await one_primary_named_by_every_sentinel(d)
    return primary, hosts[primary]


async def count_losses(d: DeployedStack, ledger: WriteLedger, figure: Figure) -> None:
    """Read every written key back from the primary; fill in the figure's counts."""
    primary = await one_primary_named_by_every_sentinel(d)
    endpoint: Endpoint = d.endpoints()[(f"{STACK}-{primary}", 6379)]
    client = node_client(d.certs, STACK, endpoint, "swarmredis-admin", timeout=10)
    try:
        await fill_losses(figure, ledger, client.mget)
    finally:
        await client.aclose()


async def restore_planned_roles(d: DeployedStack, figure: Figure, since: float) -> None:
    result = await anyio.to_thread.run_sync(lambda: d.deploy())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    await healthy_or_why(d, 60)
    figure.restored_s = time.monotonic() - since


async def healthy_or_why(d: DeployedStack, within: float) -> None:
    """Wait until status is healthy with every planned role; else fail with its problems."""
    last: dict[str, Any] = {}

    def healthy() -> bool:
        code, report = d.status()
        last.update(report)
        return code == 0 and all(n["role"] == n["planned_role"] for n in report["nodes"])

    try:
        await timed(healthy, within, "healthy with the planned roles")
    except AssertionError as error:
        raise AssertionError(f"{error}: {last.get('problems')}") from None


@pytest.mark.anyio
async def test_primary_host_loss_fails_over_and_the_old_primary_returns_as_a_replica(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    d = stack
    node, k = await primary_off_the_manager(d)
    host = f"lab-h{k}"
    figure = Figure(
        "replication: primary host loss",
        "replication",
        f"the engine of {host}, which runs primary {node} and a Sentinel, is killed, "
        "then started again",
    )
    async with writing(sentinel_router(d), "session:hostloss") as ledger:
        fault = ledger.now()
        await anyio.to_thread.run_sync(lambda: swarm_lab.run("kill-host", str(k)))
        figure.detect_s = await timed(
            lambda: names_the_fault(d, node, host), 60, f"status naming {node} on {host}"
        )
        await settle_writes(ledger, streak=30)
        figure.recover_s = (ledger.last_failure_after(fault) or fault) - fault
        revived = time.monotonic()
        await anyio.to_thread.run_sync(lambda: swarm_lab.run("revive-host", str(k)))
        new_primary = await one_primary_named_by_every_sentinel(d)
        assert new_primary != node

        def returned() -> bool:
            _, report = d.status()
            mine = {n["name"]: n for n in report["nodes"]}[node]
            return mine["role"] == "replica" and bool(mine["link_up"])

        back = await timed(returned, 180, f"{node} back as a replica of {new_primary}")
        figure.notes.append(
            f"Sentinels promoted {new_primary}; {node} came back as its replica "
            f"{back:.1f} s after its host, with no command run"
        )
        await restore_planned_roles(d, figure, revived)
    await count_losses(d, ledger, figure)
    record(figure)
    assert figure.lost_confirmed == 0, figure


@pytest.mark.anyio
async def test_every_sentinel_restarted_at_once_keeps_the_primary(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    d = stack
    before = await one_primary_named_by_every_sentinel(d)
    figure = Figure(
        "replication: all Sentinels restarted",
        "replication",
        "`docker service update --force` of the three Sentinel services at the same moment",
    )
    async with writing(sentinel_router(d), "session:sentinels") as ledger:
        restarted = time.monotonic()
        async with anyio.create_task_group() as tg:
            for name in SENTINELS:
                tg.start_soon(_force_update, swarm_lab, f"{STACK}_{name}")

        def restarted_and_healthy() -> bool:
            """Every Sentinel is a new process (its uptime began after the restart) and
            the stack is healthy in its planned roles."""
            code, report = d.status()
            since = time.monotonic() - restarted
            sentinels = [n for n in report["nodes"] if n["name"] in SENTINELS]
            fresh = all((n["uptime_seconds"] or since + 1) < since for n in sentinels)
            return (
                fresh and code == 0 and all(n["role"] == n["planned_role"] for n in report["nodes"])
            )

        try:
            await timed(restarted_and_healthy, 120, "new Sentinels, healthy, planned roles")
        except AssertionError as error:
            _, report = await anyio.to_thread.run_sync(d.status)
            raise AssertionError(f"{error}: {report['problems']}") from None
        figure.restored_s = time.monotonic() - restarted
        assert await one_primary_named_by_every_sentinel(d) == before
    figure.notes.append(
        f"the primary stayed {before}; the restarted Sentinels found it, its replicas and "
        "each other again from their own sentinel.conf"
    )
    await count_losses(d, ledger, figure)
    record(figure)
    assert figure.lost_confirmed == 0, figure


async def _force_update(lab: SwarmLab, service: str) -> None:
    await anyio.to_thread.run_sync(
        lambda: lab.docker(1, "service", "update", "--force", "--detach", "-q", service)
    )


@pytest.mark.anyio
async def test_partition_of_the_primary_leaves_exactly_one_primary(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    d = stack
    node, k = await primary_off_the_manager(d)
    host = f"lab-h{k}"
    counter = "session:minority"
    figure = Figure(
        "replication: partition of the primary",
        "replication",
        f"the link of {host} (primary {node} and a Sentinel) is cut for 30 s, then restored; "
        "a client on the cut-off side keeps writing to the old primary",
    )
    async with writing(sentinel_router(d), "session:partition") as ledger:
        fault = ledger.now()
        await anyio.to_thread.run_sync(lambda: swarm_lab.run("cut-host", str(k)))
        try:
            minority = minority_incr(swarm_lab, d, k, node, counter, USER)
            figure.detect_s = await timed(
                lambda: names_the_fault(d, node, host), 60, f"status naming {node} on {host}"
            )
            await settle_writes(ledger, streak=30)
            figure.recover_s = (ledger.last_failure_after(fault) or fault) - fault
            out, _ = await anyio.to_thread.run_sync(lambda: minority.communicate(timeout=60))
        finally:
            await anyio.to_thread.run_sync(lambda: swarm_lab.run("heal-host", str(k)))
        healed = time.monotonic()
        accepted = [r for r in out.split() if r.isdigit()]
        assert accepted, f"the cut-off primary accepted nothing: {out[-500:]}"

        def in_their_tasks() -> bool:
            """Every node answers from the task Swarm means to run: the manager saw the
            cut host down and made replacement tasks, which start after the heal."""
            _, report = d.status()
            return all(
                n["reachable"] and n["task_state"] in ("running", "starting")
                for n in report["nodes"]
            )

        await timed(in_their_tasks, 150, "every node answering in its task after the heal")
        primary = await one_primary_named_by_every_sentinel(d)
        assert primary != node, f"{node} is still the primary after the partition"
        await restore_planned_roles(d, figure, healed)
    await count_losses(d, ledger, figure)
    remap = d.endpoints()
    reader = node_client(d.certs, STACK, remap[(f"{STACK}-{primary}", 6379)], "swarmredis-admin")
    try:
        kept = int(await reader.get(counter) or 0)
    finally:
        await reader.aclose()
    figure.notes += [
        f"the cut-off primary {node} accepted {len(accepted)} INCRs from its own side "
        f"while cut off; {kept} survived: {len(accepted) - kept} acknowledged writes lost, "
        "which Redis's asynchronous replication allows without min-replicas-to-write",
        f"afterwards one primary ({primary}), named by every Sentinel; {node} a replica",
    ]
    record(figure)
    assert figure.lost_confirmed == 0, figure
