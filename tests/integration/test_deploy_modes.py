"""Replication (primary + replicas + Sentinel) and standalone stacks on the lab."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
import redis.exceptions
import yaml
from redis.asyncio.cluster import RedisCluster

from swarmredis.stackfile.units import parse_size

from .conftest import SwarmLab
from .faults import Figure, record
from .helpers import FAST_UPDATE, cli, endpoints, password, stack_copy, status_json
from .underload import longest_error_window


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


def _client(modes_dir: Path, endpoint: tuple[str, int], user: str) -> aioredis.Redis:
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
        ask = _client(self.modes_dir, self.sentinel, "swarmredis-admin")
        try:
            while not done.is_set():
                try:
                    alias, port = await ask.execute_command(
                        "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "itr"
                    )
                    target = self.by_alias[(alias.decode(), int(port))]
                    client = _client(self.modes_dir, target, "web")
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
        reader = _client(self.modes_dir, primary, "swarmredis-admin")
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
            await _auth(modes_dir, endpoint, "replication", secret)
        admin = _client(modes_dir, endpoint, "swarmredis-admin")
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
            await _auth(modes_dir, endpoint, "replication", old)
        await _auth(modes_dir, endpoint, "replication", new)
    code, report = status_json("itr", certs, swarm_lab.docker_host)
    assert code == 0, report["problems"]  # every replica linked (with the new password)


async def _auth(modes_dir: Path, endpoint: tuple[str, int], user: str, secret: str) -> None:
    """AUTH as ``user`` with ``secret`` over TLS (the admin's certificate); raises if refused."""
    client = _client(modes_dir, endpoint, "swarmredis-admin")
    try:
        await client.execute_command("AUTH", user, secret)
    finally:
        await client.aclose()


@pytest.mark.anyio
@pytest.mark.logs_on_failure(*(f"itr_sentinel-{i}" for i in (1, 2, 3)))
async def test_deploy_gives_the_primary_role_back_after_a_failover(
    swarm_lab: SwarmLab, modes_dir: Path, replication: Path
) -> None:
    by_alias = endpoints("itr", modes_dir / "certs", swarm_lab.docker_host)
    ask = _client(modes_dir, by_alias[("itr-sentinel-2", 6379)], "swarmredis-admin")

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
        admin = _client(modes_dir, by_alias[(f"itr-node-{k}", 6379)], "swarmredis-admin")
        try:
            got = await admin.config_get("maxmemory")
        finally:
            await admin.aclose()
        assert int(got["maxmemory"]) == wanted, k
    ask = _client(modes_dir, by_alias[("itr-sentinel-3", 6379)], "swarmredis-admin")
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
