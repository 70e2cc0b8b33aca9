"""Faults of a Redis Cluster on the lab, with figures: host loss, partition, full restarts.

One 3x1 cluster (a primary and another shard's replica on each host) serves every
scenario in turn; each scenario ends with the cluster healthy in its planned roles, or
the module's later scenarios fail on their first check. A writer records every write
(:mod:`testkit.ledger`) while the fault lasts; afterwards every confirmed write must read
back. Each scenario records its figures in docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from redis.crc import key_slot
from testkit import eventually
from testkit.ledger import lost_writes

from .conftest import LAB, SwarmLab
from .faults import (
    ClusterRouter,
    Figure,
    count_cluster_losses,
    healthy_in_planned_roles,
    minority_incr,
    names_the_fault,
    node_client,
    record,
    settle_writes,
    timed,
    writing,
)
from .helpers import DeployedStack, cluster_client, deployed_stack

CLUSTER_NODE_TIMEOUT_S = 15.0  # Redis's default cluster-node-timeout, which the stack keeps
STACK = "itf"
USER = "app"  # the stack's own user: keys app:*, +@write, WAIT (+@connection)

pytestmark = pytest.mark.logs_on_failure(*(f"{STACK}_node-{i}" for i in range(1, 7)))


@pytest.fixture(scope="module")
def stack(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedStack]:
    placement = {"constraints": ["node.labels.redis == true"], "spread": "node.id"}
    tmp = tmp_path_factory.mktemp(STACK)
    try:
        with deployed_stack(swarm_lab, tmp, "cluster", STACK, 8100, placement=placement) as d:
            yield d
    finally:
        for k in range(2, swarm_lab.size + 1):  # whatever a failed scenario left broken
            swarm_lab.run("heal-host", str(k))
        subprocess.run([str(LAB), "up", str(swarm_lab.size)], check=True, timeout=600)


def primary_off_the_manager(d: DeployedStack) -> tuple[str, int]:
    """A primary (node name) and its host's lab number, never host 1 (the Swarm manager)."""
    code, report = d.status()
    assert code == 0, report["problems"]
    for node in report["nodes"]:
        if node["role"] == "primary" and node["host"] != "lab-h1":
            return node["name"], int(node["host"].removeprefix("lab-h"))
    raise AssertionError(f"every primary is on lab-h1: {report['nodes']}")


@pytest.mark.anyio
async def test_host_loss_of_a_primary_fails_over_and_the_node_rejoins_as_a_replica(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    d = stack
    node, k = primary_off_the_manager(d)
    host = f"lab-h{k}"
    figure = Figure(
        "cluster: host loss",
        "cluster",
        f"the engine of {host}, which runs primary {node}, is killed (dockerd, containerd "
        "and every container), then started again",
    )
    router = ClusterRouter(d.certs, STACK, d.endpoints(), USER)
    async with writing(router, "app:hostloss") as ledger:
        fault = ledger.now()
        swarm_lab.run("kill-host", str(k))
        figure.detect_s = await timed(
            lambda: names_the_fault(d, node, host), 60, f"status naming {node} on {host}"
        )
        await settle_writes(ledger)
        figure.recover_s = (ledger.last_failure_after(fault) or fault) - fault
        revived = time.monotonic()
        swarm_lab.run("revive-host", str(k))

        def rejoined() -> bool:
            code, report = d.status()
            mine = {n["name"]: n for n in report["nodes"]}[node]
            return mine["reachable"] and mine["role"] == "replica" and code == 1

        rejoin = await timed(rejoined, 180, f"{node} back as a replica")
        figure.notes.append(
            f"{node} rejoined as a replica {rejoin:.1f} s after its host came back, "
            "from its nodes.conf, with no command run"
        )
        result = await anyio.to_thread.run_sync(lambda: d.deploy())
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        assert await anyio.to_thread.run_sync(lambda: healthy_in_planned_roles(d))
        figure.restored_s = time.monotonic() - revived
        figure.notes.append("`deploy` handed the shard back to the planned primary")
    await count_cluster_losses(d, ledger, figure)
    record(figure)
    assert figure.lost_confirmed == 0, figure


async def slot_owners(d: DeployedStack) -> dict[str, list[tuple[int, int, str]]]:
    """Every node's view of who serves which slots: (start, end, primary's node id)."""
    views: dict[str, list[tuple[int, int, str]]] = {}
    for (alias, _), endpoint in d.endpoints().items():
        client = node_client(d.certs, STACK, endpoint, "swarmredis-admin")
        try:
            rows = await client.execute_command("CLUSTER SLOTS")
        finally:
            await client.aclose()
        views[alias] = sorted((int(r[0]), int(r[1]), r[2][2].decode()) for r in rows)
    return views


async def assert_one_primary_per_slot(d: DeployedStack) -> None:
    """No split brain: every node names the same primary for every slot, all 16384 covered."""
    views = await slot_owners(d)
    first = next(iter(views.values()))
    assert all(view == first for view in views.values()), views
    covered = sum(end - start + 1 for start, end, _ in first)
    assert covered == 16384 and len({owner for *_, owner in first}) == 3, first


def hashtag_in(slots: list[list[int]]) -> str:
    """A ``{tag}`` whose keys hash into one of ``slots`` (ranges [start, end])."""
    for n in range(100000):
        slot = key_slot(f"t{n}".encode())
        if any(start <= slot <= end for start, end in slots):
            return f"{{t{n}}}"
    raise AssertionError(f"no tag hashes into {slots}")


@pytest.mark.anyio
async def test_partition_of_a_primary_host_leaves_one_primary_per_slot(
    swarm_lab: SwarmLab, stack: DeployedStack
) -> None:
    d = stack
    node, k = primary_off_the_manager(d)
    host = f"lab-h{k}"
    _, report = await anyio.to_thread.run_sync(d.status)
    mine = {n["name"]: n for n in report["nodes"]}[node]
    counter = f"app:{hashtag_in(mine['slots'])}:minority"
    figure = Figure(
        "cluster: partition",
        "cluster",
        f"the link of {host} (primary {node}) is cut for longer than cluster-node-timeout "
        "(15 s), then restored; a client on the cut-off side keeps writing to it",
    )
    router = ClusterRouter(d.certs, STACK, d.endpoints(), USER)
    async with writing(router, "app:partition") as ledger:
        fault = ledger.now()
        swarm_lab.run("cut-host", str(k))
        try:
            minority = minority_incr(swarm_lab, d, k, node, counter, USER)
            figure.detect_s = await timed(
                lambda: names_the_fault(d, node, host), 60, f"status naming {node} on {host}"
            )
            await settle_writes(ledger)
            figure.recover_s = (ledger.last_failure_after(fault) or fault) - fault
            out, _ = await anyio.to_thread.run_sync(lambda: minority.communicate(timeout=60))
        finally:
            swarm_lab.run("heal-host", str(k))
        healed = time.monotonic()
        replies = out.split()
        accepted = [r for r in replies if r.isdigit()]
        assert accepted, f"the cut-off primary accepted nothing: {out[-500:]}"
        assert "CLUSTERDOWN" in out, "the cut-off primary never stopped accepting writes"

        def agreed() -> bool:
            """Every node reachable, agreeing, and its task the one Swarm means to run.

            Swarm saw the cut host down and made a replacement task for each service pinned
            there (pending: no other node fits); after the heal it stops the old container
            and starts the new one, seconds later. Until then the old one still answers, so
            reachability alone passed in CI just before those restarts (stop 20)."""
            _, report = d.status()
            return (
                report["cluster"] is not None
                and report["cluster"]["nodes_agree"]
                and all(
                    n["reachable"] and n["task_state"] in ("running", "starting")
                    for n in report["nodes"]
                )
            )

        await timed(agreed, 150, "every node reachable and agreeing, in its task, after the heal")
        await assert_one_primary_per_slot(d)
        _, report = await anyio.to_thread.run_sync(d.status)
        since_heal = time.monotonic() - healed
        restarted = sorted(
            n["name"]
            for n in report["nodes"]
            if n["host"] == host and (n["uptime_seconds"] or since_heal) < since_heal
        )
        roles = {n["name"]: n["role"] for n in report["nodes"]}
        assert roles[node] == "replica", roles  # the old primary came back as a replica
        result = await anyio.to_thread.run_sync(lambda: d.deploy())
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        assert await anyio.to_thread.run_sync(lambda: healthy_in_planned_roles(d))
        figure.restored_s = time.monotonic() - healed
    await count_cluster_losses(d, ledger, figure)
    client = await cluster_client(STACK, d.certs, swarm_lab.docker_host, "swarmredis-admin")
    try:
        kept = int(await client.get(counter) or 0)
    finally:
        await client.aclose()
    figure.notes += [
        f"the cut-off primary accepted {len(accepted)} INCRs from its own side before it "
        f"refused writes (CLUSTERDOWN); {kept} of them survived the heal: "
        f"{len(accepted) - kept} acknowledged-but-unreplicated writes lost, as Redis Cluster's "
        "asynchronous replication allows (confirmed writes: see the table)",
        f"after the heal Swarm restarted the nodes of {host} ({', '.join(restarted) or 'none'}):"
        " it had made replacement tasks while the host was down for the manager",
        f"after the heal: one primary per slot range on every node's view; {node} a replica",
        "`deploy` handed the shard back to the planned primary",
    ]
    record(figure)
    assert figure.lost_confirmed == 0, figure


async def cluster_views(d: DeployedStack) -> dict[str, tuple[str, list[str]]]:
    """Each node's (own id, its CLUSTER NODES lines), by overlay alias."""
    views = {}
    for (alias, _), endpoint in d.endpoints().items():
        client = node_client(d.certs, STACK, endpoint, "swarmredis-admin")
        try:
            # the words apart: redis-py parses the reply of "CLUSTER NODES"
            me = (await client.execute_command("CLUSTER", "MYID")).decode()
            lines = (await client.execute_command("CLUSTER", "NODES")).decode().splitlines()
        finally:
            await client.aclose()
        views[alias] = (me, lines)
    return views


def overlay_addresses(d: DeployedStack) -> dict[str, str]:
    """Each node's current overlay address, by alias: its running task's attachment to the
    stack's network, from the manager's store."""
    out = {}
    for i in range(1, 7):
        service = f"{STACK}_node-{i}"
        task = d.lab.docker(1, "service", "ps", "-q", "--filter", "desired-state=running", service)
        assert len(task.split()) == 1, (service, task)
        attachments = json.loads(
            d.lab.docker(1, "inspect", "--format", "{{json .NetworksAttachments}}", task.strip())
        )
        (ip,) = (
            a["Addresses"][0].split("/")[0]
            for a in attachments
            if a["Network"]["Spec"]["Name"] == f"{STACK}_net"
        )
        out[f"{STACK}-node-{i}"] = ip
    return out


async def assert_whole_at_current_addresses(d: DeployedStack, ids: set[str]) -> None:
    """The same node ids as before; every node's table lists exactly them, none flagged
    fail or unreachable, each at its task's overlay address now.

    Within a bound, polled: a node learns a peer's new address from that peer's next PING,
    or from gossip once it marked the peer PFAIL (cluster.c); a replica's entry for another
    replica (which no slot depends on) lagged in CI after the cluster was already ok."""
    views = await cluster_views(d)
    assert {me for me, _ in views.values()} == ids, "the cluster was created anew"
    wrong: list[object] = []  # what the last complete look found wrong

    async def at_current_addresses() -> bool:
        found: list[object] = []
        views = await cluster_views(d)
        addresses = await anyio.to_thread.run_sync(overlay_addresses, d)
        current = {me: addresses[alias] for alias, (me, _) in views.items()}
        for alias, (_, lines) in views.items():
            table = {line.split()[0]: line.split() for line in lines}
            if set(table) != ids:
                found.append(f"{alias} lists {sorted(table)}")
            for node_id, fields in table.items():
                flags = set(fields[2].split(","))
                if flags & {"fail", "fail?", "noaddr", "handshake"}:
                    found.append((alias, fields))
                elif fields[1].split(":", 1)[0] != current.get(node_id):
                    found.append((alias, fields, current.get(node_id)))
        wrong[:] = found
        return not found

    try:
        await eventually(at_current_addresses, 2 * CLUSTER_NODE_TIMEOUT_S + 15, "tables current")
    except AssertionError as error:
        raise AssertionError(f"{error}: {wrong}") from None


async def write_confirmed(d: DeployedStack, keys: dict[str, str]) -> None:
    """SET each key and WAIT until its replica has it (on the same connection)."""
    router = ClusterRouter(d.certs, STACK, d.endpoints(), USER)
    try:
        for key, value in keys.items():
            async with (await router.client_for(key)).pipeline(transaction=False) as pipe:
                pipe.set(key, value)
                pipe.execute_command("WAIT", 1, 2000)
                assert await pipe.execute() == [True, 1], key
    finally:
        await router.aclose()


async def node_ids(d: DeployedStack) -> set[str]:
    return {me for me, _ in (await cluster_views(d)).values()}


async def restart_all_services(lab: SwarmLab) -> None:
    async with anyio.create_task_group() as tg:
        for i in range(1, 7):
            tg.start_soon(_force_update, lab, f"{STACK}_node-{i}")


async def _force_update(lab: SwarmLab, service: str) -> None:
    await anyio.to_thread.run_sync(
        lambda: lab.docker(1, "service", "update", "--force", "--detach", "-q", service)
    )


def restart_all_engines(lab: SwarmLab) -> None:
    """A power cut: every engine (and its containers) killed, then started again."""
    for k in range(lab.size, 0, -1):
        lab.run("kill-host", str(k))
    for k in range(1, lab.size + 1):
        lab.run("revive-host", str(k))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scenario", "fault"),
    [
        ("services", "`docker service update --force` of all six node services at once"),
        ("engines", "every lab engine killed (with its containers) and started again"),
    ],
)
async def test_full_restart_comes_back_whole_by_itself(
    swarm_lab: SwarmLab, stack: DeployedStack, scenario: str, fault: str
) -> None:
    """Every task gets a new overlay address; nodes.conf still has the old ones. The
    health check's address healing (plan/heal.py) MEETs the peers where they are now,
    with no swarmredis command run."""
    d = stack
    ids = await node_ids(d)
    keys = {f"app:restart:{scenario}:{i}": str(i) for i in range(500)}
    await write_confirmed(d, keys)
    figure = Figure(f"cluster: full restart ({scenario})", "cluster", fault)
    started = time.monotonic()
    if scenario == "services":
        await restart_all_services(swarm_lab)
    else:
        await anyio.to_thread.run_sync(lambda: restart_all_engines(swarm_lab))

    last: dict[str, Any] = {}

    def back_by_itself() -> bool:
        """Every node is a new process (up for less than the time since the restart), the
        cluster is ok, and nothing is wrong but roles a failover moved (nodes restart at
        different moments: a primary that came back late may find its replica promoted)."""
        code, report = d.status()
        last.update(report)
        since = time.monotonic() - started
        fresh = all((n["uptime_seconds"] or since + 1) < since for n in report["nodes"])
        only_roles = all(p["kind"] == "failover" for p in report["problems"])
        return fresh and code in (0, 1) and only_roles and report["cluster"]["state"] == "ok"

    try:
        await timed(back_by_itself, 240, "every node restarted, cluster ok, by itself")
    except AssertionError as error:
        roles = [(n["name"], n["role"], n["uptime_seconds"]) for n in last["nodes"]]
        raise AssertionError(f"{error}: {last['problems']} {roles}") from None
    figure.restored_s = time.monotonic() - started
    moved = [p["node"] for p in last["problems"] if p["kind"] == "failover"]
    if moved:
        result = await anyio.to_thread.run_sync(lambda: d.deploy())
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        figure.notes.append(f"a failover moved roles ({', '.join(moved)}); deploy gave them back")
    assert await anyio.to_thread.run_sync(lambda: healthy_in_planned_roles(d))
    await assert_whole_at_current_addresses(d, ids)
    client = await cluster_client(STACK, d.certs, swarm_lab.docker_host, "swarmredis-admin")
    try:
        lost = await lost_writes(client.mget_nonatomic, keys)
    finally:
        await client.aclose()
    figure.confirmed, figure.lost_confirmed = len(keys), len(lost)
    figure.notes.append(
        f"{len(keys)} keys written and replicated before; every node came back with its "
        "node id, at its new address, with no swarmredis command"
    )
    record(figure)
    assert not lost, f"{len(lost)} of {len(keys)} keys lost"
