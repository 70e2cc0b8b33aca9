"""Replication (primary + replicas + Sentinel) and standalone stacks on the lab."""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
import redis.exceptions
import yaml
from redis.asyncio.cluster import RedisCluster
from testkit.tls import REFUSED, ClientFiles, ping_reply, served_certificate, signed_by

from swarmredis.stackfile.units import parse_size

from .conftest import SwarmLab
from .faults import Figure
from .helpers import (
    FAST_UPDATE,
    NEXT_IMAGE,
    cli,
    endpoints,
    password,
    secret_versions,
    stack_copy,
    status_json,
)
from .sentinel_client import SentinelWriter, auth, node_client


@pytest.fixture(scope="module")
def modes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("modes")


def _deploy(lab: SwarmLab, tmp: Path, stack_file: Path, name: str) -> Iterator[Path]:
    cli("rm", name, "--volumes", "--yes", "-q", docker_host=lab.docker_host)
    result = cli(
        "deploy", str(stack_file), "--certs-dir", str(tmp / "certs"), docker_host=lab.docker_host
    )
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        yield stack_file
    finally:
        cli("rm", name, "--volumes", "--yes", "-q", docker_host=lab.docker_host)


@pytest.fixture(scope="module")
def replication(swarm_lab: SwarmLab, modes_dir: Path) -> Iterator[Path]:
    yield from _deploy(
        swarm_lab,
        modes_dir,
        stack_copy(modes_dir, "replication", "itr", 7400, update=FAST_UPDATE),
        "itr",
    )


@pytest.fixture(scope="module")
def standalone(swarm_lab: SwarmLab, modes_dir: Path) -> Iterator[Path]:
    yield from _deploy(
        swarm_lab, modes_dir, stack_copy(modes_dir, "standalone", "its", 7450), "its"
    )


def test_replication_is_healthy_and_spread(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    code, report = status_json("itr", modes_dir / "certs", swarm_lab.docker_host)
    assert code == 0, report["problems"]
    nodes = {n["name"]: n for n in report["nodes"]}
    assert nodes["node-1"]["role"] == "primary"
    for replica in ("node-2", "node-3"):
        assert nodes[replica]["role"] == "replica"
        assert nodes[replica]["link_up"] is True
        assert nodes[replica]["host"] != nodes["node-1"]["host"]
    sentinels = [n for n in report["nodes"] if n["planned_role"] == "sentinel"]
    assert len(sentinels) == 3
    assert len({s["host"] for s in sentinels}) == 3


@pytest.mark.anyio
async def test_replication_user_writes_through_the_primary(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    _, report = status_json("itr", modes_dir / "certs", swarm_lab.docker_host)
    host, port = next(n for n in report["nodes"] if n["name"] == "node-1")["endpoint"].split(":")
    certs = modes_dir / "certs" / "itr"
    client = aioredis.Redis(
        host=host,
        port=int(port),
        ssl=True,
        ssl_check_hostname=False,
        socket_timeout=5,
        ssl_ca_certs=str(certs / "ca.crt"),
        ssl_certfile=str(certs / "clients" / "web.crt"),
        ssl_keyfile=str(certs / "clients" / "web.key"),
        username="web",
        password=password(modes_dir / "certs", "itr", "web"),
    )
    try:
        await client.set("session:1", "alice")
        assert await client.get("session:1") == b"alice"
        with pytest.raises(redis.exceptions.NoPermissionError):
            await client.set("admin:1", "x")
    finally:
        await client.aclose()


def test_replication_redeploy_is_a_noop(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    again = cli(
        "deploy",
        str(replication),
        "--certs-dir",
        str(modes_dir / "certs"),
        docker_host=swarm_lab.docker_host,
    )
    assert again.returncode == 0, again.stderr
    assert "no changes" in again.stdout
    quiet = cli(
        "deploy",
        str(replication),
        "--certs-dir",
        str(modes_dir / "certs"),
        "--json",
        docker_host=swarm_lab.docker_host,
    )
    assert quiet.returncode == 0, quiet.stderr
    result = next(
        json.loads(line)["result"] for line in quiet.stdout.splitlines() if '"result"' in line
    )
    # nothing sent that changes anything: no Docker request but GETs, no Redis write
    assert result["writes"] == {"docker": 0, "redis": 0}, result
    assert set(result["docker_calls"]) == {"GET"}, result["docker_calls"]


def test_logs_merge_every_node_and_sentinel_in_time_order(
    swarm_lab: SwarmLab, replication: Path
) -> None:
    """`swarmredis logs STACK`: the lines of all six services, each with its node and the
    host its task ran on, in time order; `logs STACK NODE` only that node's."""
    every = cli("logs", "itr", "--since", "1h", "--json", docker_host=swarm_lab.docker_host)
    assert every.returncode == 0, every.stderr
    lines = [json.loads(line) for line in every.stdout.splitlines()]
    assert {line["node"] for line in lines} == {
        *(f"node-{i}" for i in (1, 2, 3)),
        *(f"sentinel-{i}" for i in (1, 2, 3)),
    }
    assert [line["time"] for line in lines] == sorted(line["time"] for line in lines)
    hosts = {line["host"] for line in lines}
    assert hosts <= {"lab-h1", "lab-h2", "lab-h3"}, hosts
    assert any("Ready to accept connections" in line["text"] for line in lines)
    one = cli("logs", str(replication), "node-2", "--tail", "5", docker_host=swarm_lab.docker_host)
    assert one.returncode == 0, one.stderr
    assert one.stdout and all(" node-2@lab-h" in line for line in one.stdout.splitlines())
    missing = cli("logs", "itr", "node-9", docker_host=swarm_lab.docker_host)
    assert missing.returncode == 4
    assert "stack itr has no node 'node-9'" in missing.stderr


@pytest.mark.anyio
async def test_logs_follow_shows_new_lines_as_they_come(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    """`logs STACK NODE --follow` prints a line the node writes after it started: a
    BGSAVE's "Background saving started" (sent again each second until it shows)."""
    follower = _cli_process(swarm_lab, "logs", "itr", "node-1", "--follow", "--tail", "0", "--json")
    seen: list[str] = []

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            seen.append(json.loads(line)["text"])

    by_alias = endpoints("itr", modes_dir / "certs", swarm_lab.docker_host)
    admin = node_client(modes_dir, by_alias[("itr-node-1", 6379)], "swarmredis-admin")
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, read)
            with anyio.fail_after(30):
                while not any("Background saving started" in text for text in seen):
                    with contextlib.suppress(redis.exceptions.ResponseError):
                        await admin.bgsave()  # refused while one still runs
                    await anyio.sleep(1)
            follower.terminate()
    finally:
        follower.kill()
        follower.wait(timeout=10)
        await admin.aclose()


def _cli_process(lab: SwarmLab, *args: str) -> subprocess.Popen[str]:
    """`swarmredis ARGS` started, its stdout a pipe (for commands that run until stopped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "swarmredis", *args, "--docker-host", lab.docker_host],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_status_watch_prints_a_json_line_per_check(swarm_lab: SwarmLab, modes_dir: Path) -> None:
    """`status STACK --watch --json` (not a terminal): one JSON report per interval."""
    args = ("--watch", "--json", "--interval", "1", "--certs-dir", str(modes_dir / "certs"))
    watcher = _cli_process(swarm_lab, "status", "itr", *args)
    try:
        assert watcher.stdout is not None
        reports = [json.loads(watcher.stdout.readline()) for _ in range(3)]
    finally:
        watcher.kill()
        watcher.wait(timeout=10)
    assert [r["status"] for r in reports] == ["healthy"] * 3
    assert len({r["checked_at"] for r in reports}) >= 2  # checked again, not repeated


@pytest.mark.anyio
@pytest.mark.logs_on_failure(*(f"itr_sentinel-{i}" for i in (1, 2, 3)))
async def test_users_rotate_replication_hands_the_primary_over_and_keeps_the_links(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    """`users rotate replication` while a Sentinel-aware client writes: masterauth follows
    the new password live, then every data node restarts (a rolling update of users.acl
    and replication-auth.conf): the primary role moves to a replica before the primary
    restarts and comes back at the end, and no acknowledged write is lost. After
    `--finish` the old password is refused, and the replicas link again with the new one."""
    certs = modes_dir / "certs"
    old = password(certs, "itr", "replication")
    by_alias = endpoints("itr", certs, swarm_lab.docker_host)
    sentinel = by_alias[("itr-sentinel-1", 6379)]
    writes = SentinelWriter(modes_dir, by_alias, sentinel, "session:roll")

    def rotate(*extra: str) -> subprocess.CompletedProcess[str]:
        args = ("users", "rotate", str(replication), "replication", *extra)
        return cli(*args, "--certs-dir", str(certs), docker_host=swarm_lab.docker_host)

    result = await writes.during(rotate)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "masterauth switched to the new password" in result.stdout
    assert result.stdout.count("hand the primary role to node-2") == 1
    assert "primary again (was node-2)" in result.stdout
    new = password(certs, "itr", "replication")
    assert new != old
    code, report = status_json("itr", certs, swarm_lab.docker_host)
    assert code == 0, report["problems"]
    assert {n["name"]: n["role"] for n in report["nodes"]}["node-1"] == "primary"
    data = [by_alias[(f"itr-node-{k}", 6379)] for k in (1, 2, 3)]
    for endpoint in data:  # both passwords work; every node replicates with the new one
        for secret in (old, new):
            await auth(modes_dir, endpoint, "replication", secret)
        admin = node_client(modes_dir, endpoint, "swarmredis-admin")
        try:
            assert await admin.config_get("masterauth") == {"masterauth": new}
        finally:
            await admin.aclose()
    figure = Figure(
        "replication: users rotate replication under a Sentinel-aware writer",
        "replication",
        "a new replication password: masterauth switched live, then rolled out failover first",
    )
    await writes.assert_nothing_lost(by_alias[("itr-node-1", 6379)], figure)

    finished = await anyio.to_thread.run_sync(lambda: rotate("--finish"))
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr
    for endpoint in data:
        with pytest.raises(redis.exceptions.AuthenticationError):
            await auth(modes_dir, endpoint, "replication", old)
        await auth(modes_dir, endpoint, "replication", new)
    code, report = status_json("itr", certs, swarm_lab.docker_host)
    assert code == 0, report["problems"]  # every replica linked (with the new password)


@pytest.mark.anyio
@pytest.mark.logs_on_failure(*(f"itr_sentinel-{i}" for i in (1, 2, 3)))
async def test_deploy_gives_the_primary_role_back_after_a_failover(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    by_alias = endpoints("itr", modes_dir / "certs", swarm_lab.docker_host)
    ask = node_client(modes_dir, by_alias[("itr-sentinel-2", 6379)], "swarmredis-admin")

    async def request_failover() -> None:
        for _ in range(60):  # NOGOODSLAVE until the Sentinel has fresh INFO of the replicas
            try:
                await ask.execute_command("SENTINEL", "FAILOVER", "itr")
                return
            except redis.exceptions.ResponseError as error:
                assert "NOGOODSLAVE" in str(error)
                await anyio.sleep(1)

    requests = 1
    try:
        await request_failover()
        for _ in range(90):
            code, report = status_json("itr", modes_dir / "certs", swarm_lab.docker_host)
            roles = {n["name"]: n["role"] for n in report["nodes"]}
            if roles["node-1"] == "replica" and code == 1:
                break
            seen = {
                k: v.decode() if isinstance(v, bytes) else v
                for k, v in (await ask.sentinel_master("itr")).items()
            }
            if seen["ip"] == "itr-node-1" and "failover_in_progress" not in seen["flags"]:
                # Sentinel abandoned it (-failover-abort-*): an operator asks again
                requests += 1
                await request_failover()
            await anyio.sleep(1)
    finally:
        await ask.aclose()
    assert roles["node-1"] == "replica", (report["problems"], f"{requests} requests")
    again = cli(
        "deploy",
        str(replication),
        "--certs-dir",
        str(modes_dir / "certs"),
        docker_host=swarm_lab.docker_host,
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert "primary again" in again.stdout
    code, report = status_json("itr", modes_dir / "certs", swarm_lab.docker_host)
    assert code == 0, report["problems"]


def set_image(stack_file: Path, image: str) -> None:
    data = yaml.safe_load(stack_file.read_text())
    data["image"] = image
    stack_file.write_text(yaml.safe_dump(data))


def set_ratio(stack_file: Path, ratio: float) -> str:
    """Set resources.maxmemory_ratio in ``stack_file``; its resources.memory."""
    data = yaml.safe_load(stack_file.read_text())
    data["resources"]["maxmemory_ratio"] = ratio
    stack_file.write_text(yaml.safe_dump(data))
    return str(data["resources"]["memory"])


@pytest.mark.anyio
async def test_live_maxmemory_change_restarts_nothing_and_sentinels_keep_quorum(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    """A live maxmemory change while a Sentinel-aware client writes: no task restarts (data
    nodes and Sentinels), every data node runs the new value, the Sentinels still reach
    their quorum, and no acknowledged write is lost."""
    certs = modes_dir / "certs"
    wanted = int(parse_size(set_ratio(replication, 0.5)) * 0.5)
    by_alias = endpoints("itr", certs, swarm_lab.docker_host)
    before = swarm_lab.docker(1, "stack", "ps", "itr", "-q", "--filter", "desired-state=running")
    writes = SentinelWriter(modes_dir, by_alias, by_alias[("itr-sentinel-2", 6379)], "session:live")
    result = await writes.during(
        lambda: cli(
            "deploy",
            str(replication),
            "--certs-dir",
            str(certs),
            docker_host=swarm_lab.docker_host,
        )
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "set and read back on node-1, node-2, node-3, no restart" in result.stdout
    after = swarm_lab.docker(1, "stack", "ps", "itr", "-q", "--filter", "desired-state=running")
    assert set(after.split()) == set(before.split())
    for k in (1, 2, 3):
        admin = node_client(modes_dir, by_alias[(f"itr-node-{k}", 6379)], "swarmredis-admin")
        try:
            got = await admin.config_get("maxmemory")
        finally:
            await admin.aclose()
        assert int(got["maxmemory"]) == wanted, k
    ask = node_client(modes_dir, by_alias[("itr-sentinel-3", 6379)], "swarmredis-admin")
    try:
        assert "OK" in str(await ask.execute_command("SENTINEL", "CKQUORUM", "itr"))
    finally:
        await ask.aclose()
    figure = Figure(
        "replication: live maxmemory change under a Sentinel-aware writer",
        "replication",
        "resources.maxmemory_ratio set with CONFIG SET on every data node, no restart",
    )
    await writes.assert_nothing_lost(by_alias[("itr-node-1", 6379)], figure, minimum=20)
    code, report = status_json("itr", certs, swarm_lab.docker_host)
    assert code == 0, report["problems"]


@pytest.mark.anyio
@pytest.mark.logs_on_failure(*(f"itr_sentinel-{i}" for i in (1, 2, 3)))
async def test_certs_rotate_ca_under_a_sentinel_aware_writer(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path, tmp_path: Path
) -> None:
    """`certs rotate --ca` while a Sentinel-aware client writes: three rolling deploys (both
    CAs trusted, leaves of the new CA, the new CA alone), the primary handed over before it
    restarts in each. At the end every data node and every Sentinel serves a leaf of the new
    CA, a client that holds only the old CA is refused, the old secrets are gone, the
    Sentinels reach their quorum, and no acknowledged write is lost."""
    certs = modes_dir / "certs"
    store = certs / "itr"
    by_alias = endpoints("itr", certs, swarm_lab.docker_host)
    old_only = ClientFiles.of_store(store, "web").kept(tmp_path / "old-only")
    writes = SentinelWriter(modes_dir, by_alias, by_alias[("itr-sentinel-1", 6379)], "session:ca")
    rotate = ("certs", "rotate", str(replication), "--ca", "--certs-dir", str(certs))
    result = await writes.during(
        lambda: cli(*rotate, docker_host=swarm_lab.docker_host, timeout=900)
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert result.stdout.count("hand the primary role to node-2") == 3  # once per phase
    new_ca = Path(shutil.copyfile(store / "ca.crt", tmp_path / "new-ca.crt"))
    new_only = ClientFiles.of_store(store, "web").kept(tmp_path / "new-only")
    old_ca_new_cert = ClientFiles.of_store(store, "web").kept(tmp_path / "old-ca", ca=old_only.ca)
    old_cert_new_ca = old_only.kept(tmp_path / "old-cert", ca=new_ca)
    for (alias, _), (host, port) in by_alias.items():  # data nodes and Sentinels
        served = await anyio.to_thread.run_sync(served_certificate, host, port, new_only)
        assert signed_by(served, new_ca), alias
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            served_certificate(host, port, old_ca_new_cert)
        with pytest.raises(ssl.SSLError, match=REFUSED):
            ping_reply(host, port, old_cert_new_ca)
    assert set(secret_versions(swarm_lab.docker_host, "itr").values()) == {1}
    await _assert_quorum(modes_dir, by_alias)
    figure = Figure(
        "replication: certs rotate --ca under a Sentinel-aware writer",
        "replication",
        "trust both CAs, leaves of the new CA, the new CA alone: three rolls, failover first",
    )
    await writes.assert_nothing_lost(by_alias[("itr-node-1", 6379)], figure)
    code, report = status_json("itr", certs, swarm_lab.docker_host)
    assert code == 0, report["problems"]


async def _assert_quorum(modes_dir: Path, by_alias: dict[tuple[str, int], tuple[str, int]]) -> None:
    for k in (1, 2, 3):
        ask = node_client(modes_dir, by_alias[(f"itr-sentinel-{k}", 6379)], "swarmredis-admin")
        try:
            assert "OK" in str(await ask.execute_command("SENTINEL", "CKQUORUM", "itr")), k
        finally:
            await ask.aclose()


@pytest.mark.anyio
@pytest.mark.logs_on_failure(*(f"itr_sentinel-{i}" for i in (1, 2, 3)))
async def test_image_change_under_a_sentinel_aware_writer(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    """An image change (a second tag of the lab image): checked on every host first, then
    every data node and Sentinel restarts on it, the primary after a handover, which it
    takes back at the end; the Sentinels reach their quorum and no acknowledged write is
    lost."""
    for k in (1, 2, 3):
        await anyio.to_thread.run_sync(
            lambda k=k: swarm_lab.docker(k, "tag", "redis:7.0", NEXT_IMAGE)
        )
    set_image(replication, NEXT_IMAGE)
    certs = modes_dir / "certs"
    by_alias = endpoints("itr", certs, swarm_lab.docker_host)
    writes = SentinelWriter(modes_dir, by_alias, by_alias[("itr-sentinel-2", 6379)], "session:img")
    result = await writes.during(
        lambda: cli(
            "deploy", str(replication), "--certs-dir", str(certs), docker_host=swarm_lab.docker_host
        )
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert f"{NEXT_IMAGE}: redis-server 7 on 3 host(s)" in result.stdout  # probed first
    assert result.stdout.count("hand the primary role to node-2") == 1
    assert "primary again (was node-2)" in result.stdout
    images = swarm_lab.docker(
        1,
        "service",
        "ls",
        "--filter",
        "label=com.docker.stack.namespace=itr",
        "--format",
        "{{.Image}}",
    )
    assert set(images.split()) == {NEXT_IMAGE}
    await _assert_quorum(modes_dir, by_alias)
    figure = Figure(
        "replication: image change under a Sentinel-aware writer",
        "replication",
        f"image: {NEXT_IMAGE}, checked on every host, then rolled node by node, failover first",
    )
    await writes.assert_nothing_lost(by_alias[("itr-node-1", 6379)], figure)
    code, report = status_json("itr", certs, swarm_lab.docker_host)
    assert code == 0, report["problems"]


def test_standalone_is_healthy(swarm_lab: SwarmLab, modes_dir: Path, standalone: Path) -> None:
    code, report = status_json("its", modes_dir / "certs", swarm_lab.docker_host)
    assert code == 0, report["problems"]
    assert [n["role"] for n in report["nodes"]] == ["primary"]
    assert report["mode"] == "standalone"


@pytest.fixture(scope="module")
def announced_by_host(swarm_lab: SwarmLab, modes_dir: Path) -> Iterator[Path]:
    stack_file = stack_copy(modes_dir, "cluster", "ita", 7470)
    data = yaml.safe_load(stack_file.read_text())
    data["announce"] = "host"
    stack_file.write_text(yaml.safe_dump(data))
    yield from _deploy(swarm_lab, modes_dir, stack_file, "ita")


@pytest.mark.anyio
async def test_announce_host_serves_clients_outside_the_swarm(
    swarm_lab: SwarmLab, modes_dir: Path, announced_by_host: Path
) -> None:
    code, report = status_json("ita", modes_dir / "certs", swarm_lab.docker_host)
    assert code == 0, report["problems"]
    certs = modes_dir / "certs" / "ita"
    host, port = report["nodes"][0]["endpoint"].split(":")
    # No address remapping and full hostname checks: the nodes announce host addresses
    # and published ports, and their certificates carry those addresses.
    client = RedisCluster(
        host=host,
        port=int(port),
        ssl=True,
        ssl_check_hostname=True,
        ssl_ca_certs=str(certs / "ca.crt"),
        ssl_certfile=str(certs / "clients" / "app.crt"),
        ssl_keyfile=str(certs / "clients" / "app.key"),
        username="app",
        password=password(modes_dir / "certs", "ita", "app"),
    )
    try:
        for i in range(30):
            await client.set(f"app:{i}", str(i))
        assert await client.get("app:29") == b"29"
        announced = {(n.host, n.port) for n in client.get_nodes()}
        published = {(h, int(p)) for h, p in (n["endpoint"].split(":") for n in report["nodes"])}
        primaries = {
            (h, int(p))
            for h, p in (
                n["endpoint"].split(":") for n in report["nodes"] if n["role"] == "primary"
            )
        }
        assert primaries <= announced <= published  # what the cluster told the client
    finally:
        await client.aclose()
