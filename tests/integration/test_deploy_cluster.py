"""`swarmredis deploy` of a Redis Cluster on the 3-host lab, end to end.

One cluster (stack `itc`) is deployed for the module; the tests run in file order
and each leaves it healthy for the next. Teardown removes the stack and its data.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
import redis.exceptions
import yaml
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio.cluster import RedisCluster
from testkit import eventually_sync, free_port
from testkit.tls import client_context, handshake_and_ping, redis_client

from .conftest import SwarmLab
from .faults import Figure, count_cluster_losses, record
from .helpers import FAST_UPDATE, NEXT_IMAGE, DeployedStack, cli, password, stack_copy
from .helpers import cluster_client as shared_cluster_client
from .prometheus import api, dashboard_queries, instant, prometheus_server
from .underload import longest_error_window, run_under_a_writer

STACK = "itc"
BASE_PORT = 7300
EXPORTER_IMAGE = "swarmredis-exporter:lab"  # scripts/lab builds it from the project's venv
METRICS = {"enabled": True, "port": 9651, "image": EXPORTER_IMAGE, "scrape_timeout": 4}


class Deployed(DeployedStack):
    def in_overlay(self, *redis_cli_args: str, user: str = "swarmredis-admin") -> str:
        """redis-cli in a throwaway container on the stack's overlay, with the stack's certs."""
        client = "swarmredis-admin" if user == "swarmredis-admin" else user
        self.wait_resolvable()
        return self.lab.docker(
            1,
            "run",
            "--rm",
            "--user",
            "0",
            "--network",
            f"{STACK}_net",
            "-v",
            f"{self.certs / STACK}:/certs:ro",
            "redis:7.0",
            "redis-cli",
            "--tls",
            "--cacert",
            "/certs/ca.crt",
            "--cert",
            f"/certs/clients/{client}.crt",
            "--key",
            f"/certs/clients/{client}.key",
            "--user",
            user,
            "--pass",
            password(self.certs, STACK, user),
            "--no-auth-warning",
            *redis_cli_args,
        )

    def wait_resolvable(self) -> None:
        """Until a new container on host 1 resolves every node's alias: the overlay's DNS
        records reach a host that had no task on the network a moment after the deploy
        (the lab's upstream now answers NXDOMAIN at once, where it used to stall 4 s)."""
        aliases = " ".join(f"{STACK}-node-{i}" for i in range(1, 7))
        probe = f"for h in {aliases}; do redis-cli -h $h -p 1 ping; done 2>&1; exit 0"

        def resolvable() -> bool:
            out = self.lab.docker(
                1, "run", "--rm", "--network", f"{STACK}_net", "redis:7.0", "sh", "-c", probe
            )
            return "not known" not in out and "failure in name resolution" not in out

        eventually_sync(resolvable, 60, f"every {STACK} alias resolvable on lab-h1", every=1)


@pytest.fixture(scope="module")
def cluster(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    tmp = tmp_path_factory.mktemp("itc")
    certs = tmp / "certs"
    # in_overlay() runs `docker run --network itc_net`: the stack asks for an attachable overlay
    network = {"name": f"{STACK}_net", "attachable": True}
    stack_file = stack_copy(
        tmp, "cluster", STACK, BASE_PORT, network=network, update=FAST_UPDATE, metrics=METRICS
    )
    cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)
    first = cli(
        "deploy",
        str(stack_file),
        "--certs-dir",
        str(certs),
        "--json",
        docker_host=swarm_lab.docker_host,
    )
    try:
        yield Deployed(STACK, swarm_lab, stack_file, certs, first)
    finally:
        cli("rm", STACK, "--volumes", "--yes", "-q", docker_host=swarm_lab.docker_host)


async def cluster_client(d: Deployed, user: str) -> RedisCluster:
    return await shared_cluster_client(STACK, d.certs, d.lab.docker_host, user)


def node_client(d: Deployed, node: str, user: str | None) -> aioredis.Redis:
    """A plain (not cluster-aware) TLS client to one node, as ``user`` (None: no AUTH)."""
    address = d.endpoints()[(f"{STACK}-{node}", 6379)]
    return redis_client(address, d.certs / STACK, user, cert=user or "app")


@pytest.fixture
async def admin(cluster: Deployed) -> AsyncIterator[RedisCluster]:
    client = await cluster_client(cluster, "swarmredis-admin")
    yield client
    await client.aclose()


def test_deploy_from_nothing_is_healthy_and_spread(cluster: Deployed) -> None:
    assert cluster.first.returncode == 0, cluster.first.stderr
    code, report = cluster.status()
    assert code == 0, report["problems"]
    assert report["status"] == "healthy"
    assert report["cluster"]["state"] == "ok"
    assert report["cluster"]["slots_ok"] == 16384
    nodes = {n["name"]: n for n in report["nodes"]}
    assert len(nodes) == 6
    primaries = [n for n in nodes.values() if n["role"] == "primary"]
    assert len(primaries) == 3
    assert len({p["host"] for p in primaries}) == 3  # primaries spread over the hosts
    planned = {"node-4": "node-1", "node-5": "node-2", "node-6": "node-3"}
    for replica, primary in planned.items():
        assert nodes[replica]["role"] == "replica"
        assert nodes[replica]["host"] != nodes[primary]["host"], f"{replica} shares a host"
        assert nodes[replica]["link_up"] is True


def test_redis_cli_cluster_check_inside_the_overlay(cluster: Deployed) -> None:
    out = cluster.in_overlay("--cluster", "check", f"{STACK}-node-1:6379")
    assert "[OK] All nodes agree about slots configuration." in out
    assert "[OK] All 16384 slots covered." in out


@pytest.mark.anyio
async def test_app_user_reads_and_writes_only_its_keys(cluster: Deployed) -> None:
    app = await cluster_client(cluster, "app")
    try:
        for i in range(50):  # keys on every shard
            await app.set(f"app:{i}", f"v{i}")
            assert await app.get(f"app:{i}") == f"v{i}".encode()
        with pytest.raises(redis.exceptions.NoPermissionError):
            await app.set("other:1", "x")
    finally:
        await app.aclose()
    one = node_client(cluster, "node-1", "app")
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            await one.config_get("maxmemory")
        with pytest.raises(redis.exceptions.NoPermissionError):
            await one.flushall()
    finally:
        await one.aclose()


@pytest.mark.anyio
async def test_plain_port_and_default_user_are_refused(cluster: Deployed) -> None:
    (host, port) = cluster.endpoints()[(f"{STACK}-node-1", 6379)]
    # plain text on the published port: the TLS listener drops it
    plain = aioredis.Redis(host=host, port=port, socket_timeout=3)
    with pytest.raises(redis.exceptions.ConnectionError, match=r"Connection reset by peer"):
        await plain.ping()
    await plain.aclose()
    # TLS with a valid client certificate but no password: the default user is off
    anonymous = node_client(cluster, "node-1", None)
    with pytest.raises(redis.exceptions.AuthenticationError, match=r"^Authentication required"):
        await anonymous.get("app:1")
    await anonymous.aclose()
    # no plain-text port inside the overlay either (port 0)
    out = cluster.lab.docker(
        1,
        "run",
        "--rm",
        "--network",
        f"{STACK}_net",
        "redis:7.0",
        "sh",
        "-c",
        f"redis-cli -h {STACK}-node-1 -p 6379 ping 2>&1; echo rc=$?",
    )
    # the TLS listener drops the plain-text PING (a plain port would answer NOAUTH)
    assert out.splitlines() == ["Error: Connection reset by peer", "rc=1"]


def test_docker_stack_commands_see_the_stack(cluster: Deployed) -> None:
    stacks = cluster.lab.docker(1, "stack", "ls", "--format", "{{.Name}} {{.Services}}")
    assert f"{STACK} 7" in stacks  # six nodes and the metrics service
    tasks = cluster.lab.docker(
        1,
        "stack",
        "ps",
        STACK,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Name}} {{.CurrentState}}",
    )
    assert len([line for line in tasks.splitlines() if "Running" in line]) == 7


def _task_ids(cluster: Deployed) -> set[str]:
    out = cluster.lab.docker(1, "stack", "ps", STACK, "-q", "--filter", "desired-state=running")
    return set(out.split())


def test_second_deploy_changes_nothing(cluster: Deployed) -> None:
    before = _task_ids(cluster)
    again = cluster.deploy("--json")
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout.strip().splitlines()[-1])  # JSON lines; result is last
    assert result["result"]["changes"] == 0
    assert result["result"]["bootstrap"]["actions"] == []
    assert _task_ids(cluster) == before
    plan = cli(
        "plan",
        str(cluster.stack_file),
        "--certs-dir",
        str(cluster.certs),
        docker_host=cluster.lab.docker_host,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr


def _service_ids(cluster: Deployed) -> str:
    return cluster.lab.docker(
        1, "service", "ls", "--filter", f"label=io.swarmredis.stack={STACK}", "-q"
    )


def test_plan_of_fewer_replicas_names_the_retiring_nodes_and_changes_nothing(
    cluster: Deployed, tmp_path: Path
) -> None:
    """replicas: 1 -> 0 on the live cluster: `plan` lists each replica as retiring (its
    service, config and certificate), exits 3 and changes nothing (the deploy itself:
    test_scale_cluster.py)."""
    fewer = tmp_path / "itc-no-replicas.yaml"
    data = yaml.safe_load(cluster.stack_file.read_text())
    data["replicas"] = 0
    fewer.write_text(yaml.safe_dump(data))
    before = _task_ids(cluster)
    specs = _service_ids(cluster)
    done = cli(
        "plan",
        str(fewer),
        "--json",
        "--certs-dir",
        str(cluster.certs),
        docker_host=cluster.lab.docker_host,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    shown = json.loads(done.stdout)
    retire = sorted(
        f"{a['kind']}:{a['logical']}" for a in shown["actions"] if a["action"] == "retire"
    )
    assert retire == sorted(
        item
        for n in ("node-4", "node-5", "node-6")
        for item in (f"service:{n}", f"config:redis-{n}.conf", f"secret:{n}.crt", f"secret:{n}.key")
    )
    assert shown["slot_moves"] == []  # replicas serve no slot: nothing to drain
    assert _task_ids(cluster) == before
    assert _service_ids(cluster) == specs  # no service created or removed


@pytest.mark.anyio
async def test_forced_restart_of_a_primary_keeps_every_key(
    cluster: Deployed, admin: RedisCluster
) -> None:
    keys = {f"k:{i}": str(i) for i in range(1000)}
    for key, value in keys.items():
        await admin.set(key, value)
    _, report = cluster.status()
    primary = next(
        n for n in report["nodes"] if n["role"] == "primary" and n["planned_role"] == "primary"
    )
    cluster.lab.docker(1, "service", "update", "--force", "--detach", f"{STACK}_{primary['name']}")
    deadline = time.monotonic() + 180
    missing: list[str] = list(keys)
    while time.monotonic() < deadline:
        code, report = cluster.status()
        if code in (0, 1) and report["cluster"] and report["cluster"]["state"] == "ok":
            missing = await unreadable(cluster, keys)
            if not missing:
                break
        await anyio.sleep(2)
    assert not missing, f"{len(missing)} keys lost or unreadable"
    # deploy hands a failed-over shard back to its planned primary: healthy, not degraded
    again = cluster.deploy()
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    code, report = cluster.status()
    assert code == 0, report["problems"]
    roles = {n["name"]: n["role"] for n in report["nodes"]}
    assert roles[primary["name"]] == "primary"


async def unreadable(cluster: Deployed, keys: dict[str, str]) -> list[str]:
    """The keys a fresh cluster client cannot read back as written (all of them while no
    node it dials answers: the restarted one may still be starting)."""
    try:
        client = await cluster_client(cluster, "swarmredis-admin")
    except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
        return list(keys)
    try:
        values = await client.mget_nonatomic(list(keys))
    except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
        return list(keys)
    finally:
        await client.aclose()
    return [k for k, v in zip(keys, values, strict=True) if v != keys[k].encode()]


@pytest.mark.anyio
async def test_deploy_hands_a_failover_back_to_the_planned_primary(cluster: Deployed) -> None:
    """A coordinated CLUSTER FAILOVER to a replica (as an operator would do) is undone by
    the next deploy; with --keep-roles it stays, and status reports it."""
    _, report = cluster.status()
    replica = next(n for n in report["nodes"] if n["planned_role"] == "replica")
    node = node_client(cluster, replica["name"], "swarmredis-admin")
    try:
        await node.execute_command("CLUSTER", "FAILOVER")
    finally:
        await node.aclose()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        code, report = cluster.status()
        if code == 1 and all(p["message"].startswith("failover:") for p in report["problems"]):
            break
        await anyio.sleep(1)
    assert code == 1, report["problems"]

    kept = cluster.deploy("--keep-roles")
    assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr
    assert cluster.status()[0] == 1

    again = cluster.deploy()
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert "CLUSTER FAILOVER (planned primary takes its shard back)" in again.stdout
    code, report = cluster.status()
    assert code == 0, report["problems"]
    assert {n["role"] for n in report["nodes"] if n["name"] == replica["name"]} == {"replica"}


def deploy_file(cluster: Deployed, stack_file: Path) -> subprocess.CompletedProcess[str]:
    """`deploy` of another version of the cluster's stack file."""
    return cli(
        "deploy",
        str(stack_file),
        "--certs-dir",
        str(cluster.certs),
        docker_host=cluster.lab.docker_host,
    )


def running_tasks(cluster: Deployed) -> set[str]:
    out = cluster.lab.docker(1, "stack", "ps", STACK, "-q", "--filter", "desired-state=running")
    return set(out.split())


@pytest.mark.anyio
async def test_an_image_missing_on_a_host_is_refused_before_any_restart(
    cluster: Deployed,
) -> None:
    """image: a tag that lab-h3 does not have: the probe job finds out, deploy exits 4
    naming the host, and no task restarts."""
    if cluster.lab.docker(3, "image", "ls", "-q", NEXT_IMAGE).strip():  # an earlier run's
        await anyio.to_thread.run_sync(lambda: cluster.lab.docker(3, "image", "rm", NEXT_IMAGE))
    for k in (1, 2):
        await anyio.to_thread.run_sync(
            lambda k=k: cluster.lab.docker(k, "tag", "redis:7.0", NEXT_IMAGE)
        )
    data = yaml.safe_load(cluster.stack_file.read_text())
    data["image"] = NEXT_IMAGE
    changed = cluster.stack_file.with_name("itc-next.yaml")
    changed.write_text(yaml.safe_dump(data))
    before = await anyio.to_thread.run_sync(running_tasks, cluster)
    refused = await anyio.to_thread.run_sync(deploy_file, cluster, changed)
    assert refused.returncode == 4, refused.stdout[-2000:] + refused.stderr
    assert f"lab-h3 cannot run the image {NEXT_IMAGE}" in refused.stderr
    assert "nothing changed" in refused.stderr
    assert await anyio.to_thread.run_sync(running_tasks, cluster) == before
    await anyio.to_thread.run_sync(lambda: cluster.lab.docker(3, "tag", "redis:7.0", NEXT_IMAGE))


@pytest.mark.anyio
async def test_rolling_update_hands_slots_over_and_keeps_every_acknowledged_write(
    cluster: Deployed, swarm_lab: SwarmLab
) -> None:
    """An image change (a second tag of the lab image, on every host now) restarts every
    node: the image is checked on every host first, slots move to a replica before each
    restart, writes go on meanwhile, and the planned primaries serve again at the end."""
    changed = cluster.stack_file.with_name("itc-next.yaml")
    code, _ = cluster.status()
    if code != 0:  # an earlier test left a failover: restore the planned roles first
        assert cluster.deploy().returncode == 0
    cluster.stack_file.write_text(changed.read_text())  # this and later tests deploy it
    figure = Figure(
        "cluster: image change under a writer",
        "cluster",
        f"image: {NEXT_IMAGE}, checked on every host, then rolled node by node, failover first",
    )
    run, ledger = await run_under_a_writer(cluster, swarm_lab, "app:img", figure)
    details = [str(e.get("detail", "")) for e in run.events]
    assert f"{NEXT_IMAGE}: redis-server 7 on 3 host(s)" in details  # probed first
    assert sum("hand its slots to" in d for d in details) == 3  # each primary, first
    assert any("serves its slots again" in d for d in details)
    code, report = cluster.status()
    assert code == 0, report["problems"]  # planned roles restored: healthy, not degraded
    await count_cluster_losses(cluster, ledger, figure)
    figure.notes.append(
        f"longest run of failed writes {longest_error_window(ledger.failure_times):.1f} s"
    )
    record(figure)
    assert len(ledger.confirmed) > 100
    assert figure.lost_confirmed == 0, figure


@pytest.mark.anyio
async def test_rm_keeps_volumes_and_deploy_brings_the_same_cluster_back(
    cluster: Deployed,
) -> None:
    _, before = cluster.status()
    ids = {n["name"]: n["node_id"] for n in before["nodes"]}
    removed = cli("rm", STACK, "-q", docker_host=cluster.lab.docker_host)
    assert removed.returncode == 0, removed.stderr
    assert (
        cluster.lab.docker(
            1, "service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}"
        ).strip()
        == ""
    )
    back = cluster.deploy()
    assert back.returncode in (0, 1), back.stdout + back.stderr
    assert "SET-CONFIG-EPOCH" not in back.stdout  # not bootstrapped as a fresh cluster
    assert "ADDSLOTSRANGE" not in back.stdout
    _, after = cluster.status()
    assert {n["name"]: n["node_id"] for n in after["nodes"]} == ids
    client = await cluster_client(cluster, "swarmredis-admin")
    try:
        assert await client.get("k:999") == b"999"
    finally:
        await client.aclose()


def test_published_port_is_tls(cluster: Deployed) -> None:
    address = cluster.endpoints()[(f"{STACK}-node-2", 6379)]
    # a TLS handshake with a client certificate, and a Redis behind it (default user off)
    context = client_context(cluster.certs / STACK, "app")
    assert handshake_and_ping(address, context) == (
        "TLSv1.3",
        b"-NOAUTH Authentication required.\r\n",
    )
    with socket.create_connection(address, timeout=3) as sock:
        sock.sendall(b"PING\r\n")
        try:
            answer = sock.recv(64)
        except ConnectionResetError:
            answer = b"<reset>"
    # plain text: the TLS listener closes the connection without a reply (a timeout fails)
    assert answer in (b"<reset>", b"")


def scrape(port: int, timeout_s: float, url: str = "") -> dict[tuple[str, str], float]:
    """GET /metrics (of ``url``, else of 127.0.0.1:``port``), read with Prometheus's own
    parser: (metric, node) -> value."""
    url = url or f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout_s) as page:
        text = page.read().decode()
    return {
        (sample.name, sample.labels.get("node", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "role" not in sample.labels and "status" not in sample.labels
    }


def test_metrics_endpoint_shows_a_stopped_node_down_within_the_scrape_timeout(
    cluster: Deployed, tmp_path: Path
) -> None:
    """`swarmredis metrics --listen` serves /metrics as the monitor user: six nodes up, the
    cluster ok with every slot. A real Prometheus scrapes it and evaluates the shipped
    alert rules (all healthy). With one replica's service scaled to 0, a scrape still
    answers within the scrape timeout and shows that node `swarmredis_node_up 0`, the others
    1, and Prometheus's SwarmRedisNodeDown alert is pending for it. The stack's own
    metrics service (metrics.enabled: the exporter on a manager, with no Docker socket)
    answers the same, within its scrape timeout of 4 s. (Last in the module: the stack
    stays so.)"""
    port = free_port()
    args = ["metrics", str(cluster.stack_file), "--listen", f"127.0.0.1:{port}"]
    args += ["--scrape-timeout", "4", "--certs-dir", str(cluster.certs)]
    server = subprocess.Popen(
        [sys.executable, "-m", "swarmredis", *args, "--docker-host", cluster.lab.docker_host],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        found: dict[tuple[str, str], float] = {}

        def answers() -> bool:
            try:
                found.update(scrape(port, 5))
            except OSError:  # not listening yet
                return False
            return True

        eventually_sync(answers, 30, "the metrics endpoint answering")
        names = [f"node-{i}" for i in range(1, 7)]
        assert [found[("swarmredis_node_up", n)] for n in names] == [1.0] * 6
        assert found[("swarmredis_cluster_state_ok", "")] == 1.0
        assert found[("swarmredis_cluster_known_nodes", "")] == 6
        assert found[("swarmredis_stack_problems", "")] == 0
        url = _service_url(cluster)
        served = scrape(0, 6, url)
        assert [served[("swarmredis_node_up", n)] for n in names] == [1.0] * 6, url
        assert served[("swarmredis_cluster_state_ok", "")] == 1.0
        assert served[("swarmredis_cluster_known_nodes", "")] == 6
        with prometheus_server(tmp_path / "prometheus", f"127.0.0.1:{port}") as prometheus:
            _scraped_by_prometheus(prometheus, names)
            _, report = cluster.status()
            replica = next(n["name"] for n in report["nodes"] if n["role"] == "replica")
            cluster.lab.docker(1, "service", "scale", f"{STACK}_{replica}=0")
            stopped = scrape(port, 5)  # the scrape timeout is 4 s
            assert stopped[("swarmredis_node_up", replica)] == 0.0
            up = [stopped[("swarmredis_node_up", n)] for n in names if n != replica]
            assert up == [1.0] * 5
            served = scrape(0, 6, url)  # its scrape timeout is 4 s
            assert served[("swarmredis_node_up", replica)] == 0.0
            assert [served[("swarmredis_node_up", n)] for n in names if n != replica] == up
            eventually_sync(
                lambda: _alerting(prometheus, "SwarmRedisNodeDown") == {replica},
                30,
                f"Prometheus's SwarmRedisNodeDown alert for {replica}",
            )
    finally:
        server.terminate()
        server.wait(timeout=10)


def _service_url(cluster: Deployed) -> str:
    """Where the stack's metrics service serves, as the last deploy said."""
    last = cluster.deploy("--json")  # nothing to change: it tells where the service runs
    assert last.returncode == 0, last.stdout[-2000:] + last.stderr
    url: str = json.loads(last.stdout.strip().splitlines()[-1])["result"]["metrics"]["url"]
    assert url.startswith("http://192.168.77."), url  # on a lab host, published there
    return url


def _scraped_by_prometheus(prometheus: str, names: list[str]) -> None:
    """Prometheus scrapes the exporter (its own `up` 1), stores six nodes up, and has
    evaluated every shipped rule without error."""

    def scraped() -> bool:
        try:
            return instant(prometheus, "swarmredis_node_up") == dict.fromkeys(names, 1.0)
        except OSError:  # Prometheus still starting
            return False

    eventually_sync(scraped, 60, "Prometheus storing six nodes up")
    assert instant(prometheus, 'up{job="swarmredis"}') == {"": 1.0}

    def rules_evaluated() -> bool:
        groups = api(prometheus, "rules")["groups"]
        health = {rule["name"]: rule["health"] for g in groups for rule in g["rules"]}
        assert "err" not in health.values(), health
        return len(health) == 12 and set(health.values()) == {"ok"}

    eventually_sync(rules_evaluated, 30, "every alert rule evaluated")

    def panels_answer() -> bool:  # every query of the shipped Grafana dashboard has data
        return all(instant(prometheus, query) for query in dashboard_queries(STACK))

    eventually_sync(panels_answer, 30, "every panel of docs/monitoring/grafana-dashboard.json")


def _alerting(prometheus: str, name: str) -> set[str]:
    """The nodes an alert is pending or firing for."""
    alerts = api(prometheus, "alerts")["alerts"]
    return {a["labels"].get("node", "") for a in alerts if a["labels"]["alertname"] == name}
