"""Scaling live stacks on the lab (issue 11): shards 3 -> 4 under a writer with 20,000
keys, then 4 -> 5 with the deploy SIGKILLed while slots move and run again, then one
replica more per shard and one less again, then shards 5 -> 3 under a writer, then no
replica and shards 3 -> 4 with the new primary restarted while slots move to it; and a
replica added to a replication stack and removed again.

A writer (:mod:`testkit.ledger`) keeps writing through a slot-map router while the deploy
runs; the router learns the new nodes' published endpoints as status lists them. Every
acknowledged write and every loaded key must read back afterwards; no slot may stay open;
every primary holds 16384/N slots within one; a new shard's primary and replica never
share a host. The figures (keys moved per second, the longest run of failed writes a
client saw) go to docs/reliability.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
import yaml
from testkit import eventually_sync
from testkit.ledger import WriteLedger

from .conftest import SwarmLab
from .faults import (
    Figure,
    container_of,
    count_cluster_losses,
    node_client,
    record,
)
from .helpers import FAST_UPDATE, DeployedStack, cli, cluster_client, deployed_stack
from .runs import Event, deploy_disturbed_at, deploy_killed_at, rerun
from .underload import longest_error_window, run_under_a_writer

STACK = "itscale"
BASE_PORT = 8200
RSTACK = "itscaler"  # replication
RBASE_PORT = 8230
USER = "app"
KEYS = 20_000
SLOTS = 16384

pytestmark = pytest.mark.logs_on_failure(*(f"{STACK}_node-{i}" for i in range(1, 16)))


@pytest.fixture(scope="module")
def stack(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedStack]:
    tmp = tmp_path_factory.mktemp(STACK)
    with deployed_stack(
        swarm_lab,
        tmp,
        "cluster",
        STACK,
        BASE_PORT,
        resources={"memory": "256M"},
        update=FAST_UPDATE,
    ) as d:
        yield d


def grow(d: DeployedStack, **counts: int) -> None:
    """Set ``shards`` or ``replicas`` in the stack's file."""
    data = yaml.safe_load(d.stack_file.read_text())
    data.update(counts)
    d.stack_file.write_text(yaml.safe_dump(data))


async def planned_changes(d: DeployedStack) -> dict[str, Any]:
    """`plan --json` of the stack file as it is now: it must plan changes (exit 3)."""
    planned = await anyio.to_thread.run_sync(
        lambda: cli(
            "plan",
            str(d.stack_file),
            "--json",
            "--certs-dir",
            str(d.certs),
            docker_host=d.lab.docker_host,
        )
    )
    assert planned.returncode == 3, planned.stdout[-2000:] + planned.stderr
    found: dict[str, Any] = json.loads(planned.stdout)
    return found


def moved_per_second(events: list[Event]) -> tuple[int, float]:
    """Slots moved and keys/s from the last progress event of the moves."""
    told = [e["data"] for e in events if e.get("subject") == "slots" and e.get("status") == "info"]
    assert told, "no progress event of the slot moves"
    return int(told[-1]["slots"]), float(told[-1]["keys_per_s"])


async def assert_even_and_closed(d: DeployedStack, shards: int) -> dict[str, Any]:
    code, report = await anyio.to_thread.run_sync(d.status)
    assert code == 0, json.dumps(report["problems"])
    primaries = [n for n in report["nodes"] if n["role"] == "primary"]
    counts = sorted(n["slot_count"] for n in primaries)
    assert len(primaries) == shards and sum(counts) == SLOTS, counts
    assert counts[-1] - counts[0] <= 1, counts
    assert all(n["role"] == n["planned_role"] for n in report["nodes"])
    return report


def assert_apart(report: dict[str, Any], primary: str, replica: str) -> None:
    hosts = {n["name"]: n["host"] for n in report["nodes"]}
    assert hosts[primary] != hosts[replica], hosts


async def load_keys(d: DeployedStack, prefix: str, count: int = KEYS) -> dict[str, str]:
    """``count`` keys written through a cluster client before the change."""
    client = await cluster_client(STACK, d.certs, d.lab.docker_host, "swarmredis-admin")
    values = {f"{prefix}:{i}": f"v{i}" for i in range(count)}
    try:
        items = list(values.items())
        for start in range(0, count, 2000):
            await client.mset_nonatomic(dict(items[start : start + 2000]))
    finally:
        await client.aclose()
    return values


async def count_losses(
    d: DeployedStack, loaded: dict[str, str], figure: Figure, ledger: WriteLedger | None = None
) -> None:
    """Read back the loaded keys and what the writer wrote (confirmed: both)."""
    every = WriteLedger("app")
    every.confirmed = {**loaded, **(ledger.confirmed if ledger else {})}
    if ledger is not None:
        every.unconfirmed, every.failed = ledger.unconfirmed, ledger.failed
    await count_cluster_losses(d, every, figure)


@pytest.mark.anyio
async def test_shards_3_to_4_under_a_writer_keeps_every_key(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    d = stack
    loaded = await load_keys(d, "app:load4")
    grow(d, shards=4)
    moves = (await planned_changes(d))["slot_moves"]
    assert [(m["source"], m["target"]) for m in moves] == [
        ("node-1", "node-7"),
        ("node-2", "node-7"),
        ("node-3", "node-7"),
    ]
    assert sum(m["slots"] for m in moves) == SLOTS // 4
    figure = Figure(
        "cluster: scale out 3 -> 4 shards",
        "cluster",
        f"`deploy` with shards: 4 on a live 3 x 1 cluster holding {KEYS} keys, while a"
        " client writes through a slot map (no ASK following: a write to a slot mid-move"
        " fails and is retried)",
    )
    run, ledger = await run_under_a_writer(d, swarm_lab, "app:scale", figure)
    slots, rate = moved_per_second(run.events)
    assert slots == SLOTS // 4  # the fewest: each old shard gives 1365 or 1366
    window = longest_error_window(ledger.failure_times)
    figure.notes.append(
        f"{slots} slots moved at {rate:.0f} keys/s; the longest run of failed writes"
        f" lasted {window:.1f} s ({ledger.failed} failed writes in all); confirmed counts"
        f" the {KEYS} keys loaded before"
    )
    report = await assert_even_and_closed(d, 4)
    assert_apart(report, "node-7", "node-8")
    await count_losses(d, loaded, figure, ledger)
    record(figure)
    assert figure.lost_confirmed == 0, figure

    again = await anyio.to_thread.run_sync(lambda: rerun(d.stack_file, d.certs, swarm_lab))
    assert again.code == 0 and "move slots" not in json.dumps(again.result)


@pytest.mark.anyio
async def test_a_scale_out_killed_while_slots_move_is_finished_by_the_next_deploy(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    d = stack
    loaded = await load_keys(d, "app:load5")
    grow(d, shards=5)

    def moving(event: Event) -> bool:
        return event.get("subject") == "slots" and event.get("status") == "info"

    killed = await anyio.to_thread.run_sync(
        lambda: deploy_killed_at(d.stack_file, d.certs, swarm_lab, moving)
    )
    code, report = await anyio.to_thread.run_sync(d.status)
    assert code == 1, report["problems"]  # degraded: a share not even, maybe a slot open
    assert any("even share" in p["message"] for p in report["problems"]), report["problems"]

    started = time.monotonic()
    run = await anyio.to_thread.run_sync(lambda: rerun(d.stack_file, d.certs, swarm_lab))
    assert run.code == 0, run.stderr[-3000:] + json.dumps(run.events[-5:])
    report = await assert_even_and_closed(d, 5)
    assert_apart(report, "node-9", "node-10")
    figure = Figure(
        "cluster: scale out killed mid-move",
        "cluster",
        "`deploy` with shards: 5 SIGKILLed at its first progress event of the slot moves"
        f" ({killed.seconds:.1f} s in), then run again",
        restored_s=time.monotonic() - started,
    )
    await count_losses(d, loaded, figure)
    record(figure)
    assert figure.lost_confirmed == 0, figure


@pytest.mark.anyio
async def test_a_replica_more_per_shard_follows_its_primary_on_a_host_of_its_own(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    """replicas: 1 -> 2 on the live 5-shard cluster: one new replica per shard under a new
    name (node-11..15), linked to its shard's primary, on a host neither the primary nor
    the other replica uses (3 hosts, 3 zones)."""
    d = stack
    grow(d, replicas=2)
    run = await anyio.to_thread.run_sync(lambda: rerun(d.stack_file, d.certs, swarm_lab))
    assert run.code == 0, run.stderr[-3000:] + json.dumps(run.events[-5:])
    report = await assert_even_and_closed(d, 5)
    nodes = {n["name"]: n for n in report["nodes"]}
    assert sorted(nodes, key=lambda n: int(n.split("-")[1]))[-5:] == [
        f"node-{i}" for i in range(11, 16)
    ]
    shards: dict[str, list[str]] = {}
    for name, node in nodes.items():
        if node["role"] == "replica":
            assert node["link_up"] is True, node
            shards.setdefault(node["replicates"], []).append(name)
    assert sorted(len(r) for r in shards.values()) == [2] * 5, shards
    for primary, replicas in shards.items():
        hosts = [nodes[primary]["host"], *(nodes[r]["host"] for r in replicas)]
        assert len(set(hosts)) == 3, (primary, replicas, hosts)


async def cluster_ids(d: DeployedStack) -> dict[str, set[str]]:
    """Each running node's own id and the ids its CLUSTER NODES lists: name -> ids."""
    seen: dict[str, set[str]] = {}
    for (alias, _), endpoint in (await anyio.to_thread.run_sync(d.endpoints)).items():
        name = alias.removeprefix(f"{STACK}-")
        client = node_client(d.certs, STACK, endpoint, "swarmredis-admin")
        try:
            table = await client.execute_command("CLUSTER", "NODES")
        finally:
            await client.aclose()
        text = table.decode() if isinstance(table, bytes) else str(table)
        seen[name] = {line.split()[0] for line in text.splitlines() if line.strip()}
    return seen


async def own_ids(d: DeployedStack, names: list[str]) -> dict[str, str]:
    endpoints = await anyio.to_thread.run_sync(d.endpoints)
    ids = {}
    for name in names:
        client = node_client(
            d.certs, STACK, endpoints[(f"{STACK}-{name}", 6379)], "swarmredis-admin"
        )
        try:
            ids[name] = (await client.execute_command("CLUSTER", "MYID")).decode()
        finally:
            await client.aclose()
    return ids


def assert_forgotten(seen: dict[str, set[str]], gone: dict[str, str]) -> None:
    """No running node lists a retired id, and every one lists each of the others."""
    assert not set(gone) & set(seen), sorted(seen)
    for name, ids in seen.items():
        assert not ids & set(gone.values()), (name, sorted(ids & set(gone.values())))
        assert len(ids) == len(seen), (name, len(ids), len(seen))


@pytest.mark.anyio
async def test_a_replica_less_per_shard_is_forgotten_and_removed(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    """replicas: 2 -> 1 on the live 5-shard cluster: node-11..15 (the newest replica of
    each shard) are forgotten by every node, then their services go; the shares stay."""
    d = stack
    retiring = [f"node-{i}" for i in range(11, 16)]
    gone = await own_ids(d, retiring)
    grow(d, replicas=1)
    run = await anyio.to_thread.run_sync(lambda: rerun(d.stack_file, d.certs, swarm_lab))
    assert run.code == 0, run.stderr[-3000:] + json.dumps(run.events[-5:])
    assert {f"{STACK}_{n}" for n in retiring} <= set(run.result["removed"])
    report = await assert_even_and_closed(d, 5)
    assert len(report["nodes"]) == 10
    assert all(n["link_up"] for n in report["nodes"] if n["role"] == "replica")
    assert_forgotten(await cluster_ids(d), gone)
    services = d.lab.docker(1, "service", "ls", "--format", "{{.Name}}").split()
    assert not {f"{STACK}_{n}" for n in retiring} & set(services)


@pytest.mark.anyio
async def test_shards_5_to_3_under_a_writer_drains_forgets_and_keeps_every_key(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    """shards: 5 -> 3 while a client writes: shards 4 and 5 (node-7/8, node-9/10) give
    every slot to shards 1-3, then every kept node forgets them, then their services go.
    Every loaded and acknowledged key reads back, shares are even, nothing is open."""
    d = stack
    loaded = await load_keys(d, "app:load3")
    retiring = ["node-7", "node-8", "node-9", "node-10"]
    gone = await own_ids(d, retiring)
    grow(d, shards=3)
    shown = await planned_changes(d)
    assert {m["source"] for m in shown["slot_moves"]} == {"node-7", "node-9"}
    assert {m["target"] for m in shown["slot_moves"]} == {"node-1", "node-2", "node-3"}
    retire = {a["logical"] for a in shown["actions"] if a["action"] == "retire"}
    assert retire == {f"{n}{part}" for n in retiring for part in ("", ".crt", ".key")} | {
        f"redis-{n}.conf" for n in retiring
    }
    figure = Figure(
        "cluster: scale in 5 -> 3 shards",
        "cluster",
        f"`deploy` with shards: 3 on a live 5 x 1 cluster holding {KEYS} keys and more,"
        " while a client writes through a slot map (no ASK following)",
    )
    run, ledger = await run_under_a_writer(d, swarm_lab, "app:scalein", figure)
    slots, rate = moved_per_second(run.events)
    assert slots == 2 * (SLOTS // 5) + 1  # every slot of shards 4 and 5: 3277 + 3276
    window = longest_error_window(ledger.failure_times)
    figure.notes.append(
        f"{slots} slots drained at {rate:.0f} keys/s; the longest run of failed writes"
        f" lasted {window:.1f} s ({ledger.failed} failed writes in all); the retired ids"
        " were gone from every node's CLUSTER NODES"
    )
    report = await assert_even_and_closed(d, 3)
    for k in (1, 2, 3):
        assert_apart(report, f"node-{k}", f"node-{k + 3}")
    assert_forgotten(await cluster_ids(d), gone)
    await count_losses(d, loaded, figure, ledger)
    record(figure)
    assert figure.lost_confirmed == 0, figure
    certificates_follow_the_deployed_nodes(d)


def certificates_follow_the_deployed_nodes(d: DeployedStack) -> None:
    """`certs status` and `certs due` (the cron jobs) check the deployed stack's nodes: with
    shards: 4 in the file on this 3-shard stack, the fourth shard's nodes take indices
    beyond every retired one (a retired index is never given again), not node-7 and node-8
    as the file's counts alone say."""
    grow(d, shards=4)
    try:
        args = ("--certs-dir", str(d.certs), "--json")
        shown = cli("certs", "status", str(d.stack_file), *args, docker_host=d.lab.docker_host)
        report = json.loads(shown.stdout)
        assert report["nodes_from"] == "the deployed stack", report["nodes_from"]
        nodes = {c["name"] for c in report["certificates"] if c["kind"] == "node"}
        new = nodes - {f"node-{i}" for i in range(1, 7)}
        # beyond every index the module's scalings retired (shards 7-10, replicas 11-15)
        assert len(new) == 2 and all(int(n.split("-")[1]) > 15 for n in new), nodes
        missing = {c["name"] for c in report["certificates"] if c["state"] == "missing"}
        assert missing == new and shown.returncode == 2, report
        due = cli("certs", "due", str(d.stack_file), *args, docker_host=d.lab.docker_host)
        assert {r["name"] for r in json.loads(due.stdout)["due"]} == new
    finally:
        grow(d, shards=3)


@pytest.mark.anyio
async def test_with_no_replica_left_a_restart_is_refused_unless_downtime_is_allowed(
    stack: DeployedStack,
) -> None:
    """replicas: 1 -> 0 retires node-4..6; then a change that restarts the primaries is
    refused before anything changes (their slots would be offline), and done with
    --allow-downtime."""
    d = stack
    grow(d, replicas=0)
    done = await anyio.to_thread.run_sync(d.deploy)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    data = yaml.safe_load(d.stack_file.read_text())
    # tcp-backlog: Redis reads it at start only (maxmemory-policy would be set live)
    data["config"] = {**data.get("config", {}), "tcp-backlog": 256}
    d.stack_file.write_text(yaml.safe_dump(data))
    before = await anyio.to_thread.run_sync(running_tasks, d)
    refused = await anyio.to_thread.run_sync(d.deploy)
    assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr
    assert "node-1, node-2, node-3" in refused.stderr and "--allow-downtime" in refused.stderr
    assert await anyio.to_thread.run_sync(running_tasks, d) == before  # nothing restarted
    allowed = await anyio.to_thread.run_sync(lambda: d.deploy("--allow-downtime"))
    assert allowed.returncode == 0, allowed.stdout[-2000:] + allowed.stderr
    assert "restarts with no replica (downtime)" in allowed.stdout
    await assert_even_and_closed(d, 3)


@pytest.mark.anyio
async def test_the_target_primary_restarted_while_slots_move_ends_with_every_key(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    """shards: 3 -> 4 on the 3 x 0 cluster the test above leaves, holding 60,000 keys more
    (the moves take seconds): at the deploy's first progress event of the moves, node-16
    (the new shard's primary, every move's target, with no replica to fail over to) gets
    SIGTERM, as Swarm stops a node, and its restart policy starts it again on its volume
    while the deploy goes on. The SIGTERM lands before the moves end. The deploy ends by
    itself, done or stopped; if stopped, the next deploy ends every open slot. Every
    loaded key reads back."""
    d = stack
    loaded = await load_keys(d, "app:load4r", 3 * KEYS)
    grow(d, shards=4)
    moves = (await planned_changes(d))["slot_moves"]
    assert {m["target"] for m in moves} == {"node-16"}, moves
    service = f"{STACK}_node-16"
    restarted: dict[str, float] = {}

    def running(k: int) -> list[str]:
        label = f"label=com.docker.swarm.service.name={service}"
        return swarm_lab.docker(k, "ps", "-q", "--filter", label).split()

    def restart() -> None:
        k = next(k for k in range(1, swarm_lab.size + 1) if running(k))
        old = container_of(swarm_lab, k, service)
        swarm_lab.docker(k, "kill", "--signal", "TERM", old)
        restarted["at"] = time.monotonic()
        eventually_sync(
            lambda: bool(running(k)) and old not in running(k),
            60,
            f"{service} running again in a new container",
        )
        restarted["back"] = time.monotonic()

    def moving(event: Event) -> bool:
        return event.get("subject") == "slots" and event.get("status") == "info"

    first = await anyio.to_thread.run_sync(
        lambda: deploy_disturbed_at(d.stack_file, d.certs, swarm_lab, moving, restart)
    )
    assert first.code in (0, 2), first.stderr[-3000:] + json.dumps(first.events[-5:])
    trigger = next(i for i, e in enumerate(first.events) if moving(e))
    ended = [
        t
        for t, e in zip(first.times, first.events, strict=True)
        if e.get("subject") == "rebalance" and e.get("status") == "done"
    ]
    assert not ended or ended[0] > restarted["at"], "the moves ended before the SIGTERM"
    outcome = "finished" if first.code == 0 else f"stopped: {error_message(first.stderr)}"
    later = first.events[trigger + 1 :]
    told = [f"{e['step']} {e['subject']} {e['status']}: {e.get('detail', '')}" for e in later]
    print("after the SIGTERM, the deploy told:", *told[:40], sep="\n  ")
    started = time.monotonic()
    if first.code == 2:
        again = await anyio.to_thread.run_sync(lambda: rerun(d.stack_file, d.certs, swarm_lab))
        assert again.code == 0, again.stderr[-3000:] + json.dumps(again.events[-5:])
    await assert_even_and_closed(d, 4)
    progress = first.events[trigger]["data"]
    figure = Figure(
        "cluster: the target primary restarted mid-move",
        "cluster",
        f"`deploy` with shards: 4 on a live 3 x 0 cluster holding {3 * KEYS} keys and more;"
        " the new primary every slot moves to stopped with SIGTERM at the first progress"
        f" event and restarted by Swarm ({restarted['back'] - restarted['at']:.1f} s down);"
        " then run again if it stopped",
        restored_s=time.monotonic() - started if first.code == 2 else None,
        notes=[
            f"SIGTERM at {progress['slots']}/{progress['total']} slots moved;"
            f" the disturbed deploy {outcome}"
        ],
    )
    await count_losses(d, loaded, figure)
    record(figure)
    assert figure.lost_confirmed == 0, figure


def error_message(stderr: str) -> str:
    """The error's message from a ``--json`` run's stderr (its last line), else its text."""
    lines = stderr.strip().splitlines()
    try:
        return str(json.loads(lines[-1])["message"])
    except (IndexError, ValueError, KeyError, TypeError):
        return stderr.strip()[-300:]


def running_tasks(d: DeployedStack) -> set[str]:
    out = d.lab.docker(1, "stack", "ps", d.stack, "-q", "--filter", "desired-state=running")
    return set(out.split())


@pytest.fixture(scope="module")
def replication(
    swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DeployedStack]:
    tmp = tmp_path_factory.mktemp(RSTACK)
    with deployed_stack(
        swarm_lab, tmp, "replication", RSTACK, RBASE_PORT, replicas=1, resources={"memory": "256M"}
    ) as d:
        yield d


@pytest.mark.anyio
async def test_a_replica_added_to_a_replication_stack_syncs_and_the_sentinels_know_it(
    swarm_lab: SwarmLab, replication: DeployedStack
) -> None:
    """replicas: 1 -> 2: node-3 is created, syncs from the primary, and every Sentinel
    lists it; nothing else restarts, and the Sentinels keep their published ports (node-3
    takes the next free one)."""
    d = replication
    before = await anyio.to_thread.run_sync(d.endpoints)
    primary = node_client(d.certs, RSTACK, before[(f"{RSTACK}-node-1", 6379)], "swarmredis-admin")
    try:
        await primary.set("before:scale", "kept")
    finally:
        await primary.aclose()
    grow(d, replicas=2)
    running = running_tasks(d)

    run = await anyio.to_thread.run_sync(lambda: rerun(d.stack_file, d.certs, swarm_lab))

    assert run.code == 0, run.stderr[-3000:] + json.dumps(run.events[-5:])
    assert running <= running_tasks(d)  # no node or Sentinel restarted: node-3 only added
    code, report = await anyio.to_thread.run_sync(d.status)
    assert code == 0, report["problems"]
    nodes = {n["name"]: n for n in report["nodes"]}
    assert nodes["node-3"]["role"] == "replica" and nodes["node-3"]["link_up"] is True
    after = await anyio.to_thread.run_sync(d.endpoints)
    for j in (1, 2, 3):
        alias = (f"{RSTACK}-sentinel-{j}", 6379)
        assert after[alias] == before[alias]  # no sentinel moved to another port
    assert after[(f"{RSTACK}-node-3", 6379)][1] == RBASE_PORT + 5  # after the sentinels'
    replica = node_client(d.certs, RSTACK, after[(f"{RSTACK}-node-3", 6379)], "swarmredis-admin")
    try:
        assert await replica.get("before:scale") == b"kept"
    finally:
        await replica.aclose()
    await sentinels_list(d, replicas=2)


@pytest.mark.anyio
async def test_a_replica_removed_from_a_replication_stack_leaves_every_sentinel(
    swarm_lab: SwarmLab, replication: DeployedStack
) -> None:
    """replicas: 2 -> 1: node-3's service goes and every Sentinel, reset one at a time,
    lists the one kept replica; nothing else restarts. replicas: 1 -> 2 again takes a new
    name (node-4): a retired node's volume still holds its old data."""
    d = replication
    grow(d, replicas=1)
    running = running_tasks(d)

    run = await anyio.to_thread.run_sync(lambda: rerun(d.stack_file, d.certs, swarm_lab))

    assert run.code == 0, run.stderr[-3000:] + json.dumps(run.events[-5:])
    assert f"{RSTACK}_node-3" in run.result["removed"]
    assert len(running - running_tasks(d)) == 1  # node-3's task, nothing else
    code, report = await anyio.to_thread.run_sync(d.status)
    assert code == 0, report["problems"]
    assert sorted(n["name"] for n in report["nodes"] if n["role"] != "sentinel") == [
        "node-1",
        "node-2",
    ]
    await sentinels_list(d, replicas=1)

    grow(d, replicas=2)
    again = await anyio.to_thread.run_sync(lambda: rerun(d.stack_file, d.certs, swarm_lab))
    assert again.code == 0, again.stderr[-3000:] + json.dumps(again.events[-5:])
    code, report = await anyio.to_thread.run_sync(d.status)
    assert code == 0, report["problems"]
    nodes = {n["name"]: n for n in report["nodes"]}
    assert "node-3" not in nodes and nodes["node-4"]["link_up"] is True, sorted(nodes)
    await sentinels_list(d, replicas=2)


async def sentinels_list(d: DeployedStack, *, replicas: int) -> None:
    """Every Sentinel lists exactly ``replicas`` replicas, none of them down."""
    endpoints = await anyio.to_thread.run_sync(d.endpoints)
    for j in (1, 2, 3):
        sentinel = node_client(
            d.certs, RSTACK, endpoints[(f"{RSTACK}-sentinel-{j}", 6379)], "swarmredis-admin"
        )
        try:
            found = await sentinel.execute_command("SENTINEL", "REPLICAS", RSTACK)
        finally:
            await sentinel.aclose()
        assert len(found) == replicas, found
        flags = [set(r[b"flags"].decode().split(",")) for r in found]
        assert not any(f & {"s_down", "o_down", "disconnected"} for f in flags), found
