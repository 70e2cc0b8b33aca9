"""`swarmredis metrics` on real local servers: the monitor user reads every node and
Sentinel (the probe of `status`, without CONFIG), the verdict and the INFO become metric
families, and Prometheus's own text parser reads the exposition back. A stopped node is
`swarmredis_node_up 0` and the scrape still answers within its timeout."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families
from testkit import eventually_sync, free_port

from swarmredis.engine.context import client_access
from swarmredis.engine.flows.metrics import NODE_SHARE, render
from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster
from swarmredis.engine.modes.registry import mode_for
from swarmredis.engine.modes.replication.bootstrap import bootstrap_replication
from swarmredis.engine.redis.health import probe_all
from swarmredis.engine.redis.metrics import Scrape
from swarmredis.engine.redis.verdict import HealthTarget, assess
from swarmredis.gateway.http import Response, serve
from swarmredis.gateway.redis import RedisAccess
from swarmredis.pki import acl
from swarmredis.pki.manage import store_status
from swarmredis.pki.material import stack_pki
from swarmredis.pki.store import CertStore

from .product import CLUSTER, MASTER_NAME, REPLICATION, STACK
from .servers import Lab, cluster_members
from .test_replication import start, targets

pytestmark = pytest.mark.anyio
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(
    mode: str, found: list[HealthTarget], store: CertStore, timeout_s: float = 4.0
) -> Samples:
    """One scrape as `metrics` makes it, parsed back by prometheus_client's parser."""
    monitor = client_access(store, acl.MONITOR, timeout=timeout_s * NODE_SHARE)
    started = time.monotonic()
    with anyio.fail_after(timeout_s):
        probes = await probe_all(
            mode_for(mode),
            found,
            monitor,
            master_name=MASTER_NAME,
            node_timeout=timeout_s * NODE_SHARE,
            settings=False,
        )
    report = assess(mode_for(mode), probes)
    stack = REPLICATION if mode == "replication" else CLUSTER
    now = datetime.now(UTC)
    certificates = store_status(store, stack_pki(stack), now=now)
    text = render(Scrape(STACK, report, probes, certificates, now, time.monotonic() - started))
    samples: Samples = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, metric: str, **labels: str) -> float:
    """The one sample of ``metric`` whose labels include ``labels``."""
    found = [
        v for (n, ls), v in samples.items() if n == metric and labels.items() <= dict(ls).items()
    ]
    assert len(found) == 1, (metric, labels, found)
    return found[0]


async def test_replication_metrics_and_a_stopped_replica(
    lab: Lab, access: RedisAccess, store: CertStore
) -> None:
    primary, replicas, sentinels = start(lab)
    await bootstrap_replication(
        primary, replicas, sentinels, access, master_name=MASTER_NAME, wait_timeout=30
    )
    found = targets(primary, replicas, sentinels)
    samples = await scrape("replication", found, store)
    for target in found:
        assert value(samples, "swarmredis_node_up", node=target.name) == 1.0, target.name
    assert value(samples, "swarmredis_node_role", node="node-1", role="primary") == 1.0
    assert value(samples, "swarmredis_node_role_as_planned", node="node-2") == 1.0
    assert value(samples, "swarmredis_replica_link_up", node="node-2") == 1.0
    assert value(samples, "swarmredis_connected_replicas", node="node-1") == 2.0
    assert value(samples, "swarmredis_sentinel_quorum_ok", node="sentinel-1") == 1.0
    assert value(samples, "swarmredis_stack_status", status="healthy") == 1.0
    assert value(samples, "swarmredis_primaries_without_linked_replica") == 0.0
    assert value(samples, "swarmredis_memory_max_bytes", node="node-1") == 64 * 2**20
    assert value(samples, "swarmredis_commands_processed_total", node="node-1") > 0
    days = value(samples, "swarmredis_certificate_expiry_seconds", kind="node", name="node-1")
    assert 80 * 86400 < days <= 90 * 86400  # a leaf of 90 days, issued for this run

    lab.processes[replicas[0].name].stop()
    samples = await scrape("replication", found, store)  # answers within its timeout
    assert value(samples, "swarmredis_node_up", node=replicas[0].name) == 0.0
    assert value(samples, "swarmredis_node_up", node="node-1") == 1.0
    assert value(samples, "swarmredis_stack_status", status="degraded") == 1.0
    assert not [k for k in samples if k[0] == "swarmredis_keys" and ("node", "node-2") in k[1]]


async def test_cluster_metrics(lab: Lab, access: RedisAccess, store: CertStore) -> None:
    members = cluster_members(lab.cluster())
    await bootstrap_cluster(members, access, wait_timeout=30)
    found = [HealthTarget(m.name, m.endpoint, m.role, primary=m.primary) for m in members]
    samples = await scrape("cluster", found, store)
    assert value(samples, "swarmredis_cluster_state_ok") == 1.0
    assert value(samples, "swarmredis_cluster_slots", state="ok") == 16384
    assert value(samples, "swarmredis_cluster_known_nodes") == 6
    assert value(samples, "swarmredis_stack_status", status="healthy") == 1.0, samples
    primaries = [m.name for m in members if m.role == "primary"]
    for name in primaries:
        assert value(samples, "swarmredis_node_role", node=name, role="primary") == 1.0


async def test_http_server_answers_get_and_refuses_the_rest() -> None:
    """gateway/http.py: GET and HEAD reach the handler, other methods get 405, a request
    that never ends gets nothing; the server keeps serving."""
    bound: list[int] = []

    async def handle(path: str) -> Response:
        if path == "/metrics":
            return Response(200, "text/plain", b"ok\n")
        return Response(404, "text/plain", b"no\n")

    async def ask(raw: bytes) -> bytes:
        async with await anyio.connect_tcp("127.0.0.1", bound[0]) as stream:
            await stream.send(raw)
            reply = b""
            with anyio.fail_after(5):
                try:
                    while True:
                        reply += await stream.receive()
                except anyio.EndOfStream:
                    return reply

    listening = anyio.Event()

    def ready(_host: str, port: int) -> None:
        bound.append(port)
        listening.set()

    async with anyio.create_task_group() as group:
        group.start_soon(partial(serve, "127.0.0.1", 0, handle, ready=ready))
        with anyio.fail_after(5):
            await listening.wait()
        ok = await ask(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200 OK\r\n") and ok.endswith(b"\r\n\r\nok\n")
        assert b"Content-Length: 3\r\n" in ok
        assert (await ask(b"GET /other HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404 ")
        assert (await ask(b"POST /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405 ")
        head = await ask(b"HEAD /metrics HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and head.endswith(b"\r\n\r\n")
        assert (await ask(b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
        group.cancel_scope.cancel()


async def test_the_exporter_command_serves_what_a_targets_document_lists(
    lab: Lab, access: RedisAccess, store: CertStore, tmp_path: Path
) -> None:
    """`swarmredis exporter TARGETS` (what the stack's metrics service runs, with no Docker
    access) as a process: the document's nodes up, the cluster ok, the document's expiry;
    a node stopped is `swarmredis_node_up 0` within the document's scrape timeout."""
    members = cluster_members(lab.cluster())
    await bootstrap_cluster(members, access, wait_timeout=30)
    secret = tmp_path / "monitor.password"
    secret.write_text(store.read_password(acl.MONITOR))
    document = {
        "stack": STACK,
        "mode": "cluster",
        "scrape_timeout": 3,
        "targets": [
            {
                "name": m.name,
                "role": m.role,
                "primary": m.primary,
                "host": m.endpoint.host,
                "port": m.endpoint.port,
                "server_name": None,
            }
            for m in members
        ],
        "certificates": [{"kind": "ca", "name": "ca", "not_after": "2030-01-01T00:00:00+00:00"}],
        "credentials": {
            "username": acl.MONITOR,
            "ca": str(store.ca_bundle),
            "cert": str(store.client_cert(acl.MONITOR)),
            "key": str(store.client_key(acl.MONITOR)),
            "password": str(secret),
        },
    }
    path = tmp_path / "targets.json"
    path.write_text(json.dumps(document))
    port = free_port()
    with exporter_process(path, port):
        samples = await anyio.to_thread.run_sync(lambda: served(port))
        for m in members:
            assert value(samples, "swarmredis_node_up", node=m.name) == 1.0, m.name
        assert value(samples, "swarmredis_cluster_slots", state="ok") == 16384
        left = value(samples, "swarmredis_certificate_expiry_seconds", kind="ca", name="ca")
        assert left == pytest.approx(
            (datetime(2030, 1, 1, tzinfo=UTC) - datetime.now(UTC)).total_seconds(), abs=60
        )
        stopped = next(m for m in members if m.role == "replica")
        lab.processes[stopped.name].stop()
        samples = await anyio.to_thread.run_sync(lambda: served(port, 5))  # timeout 3 s
        assert value(samples, "swarmredis_node_up", node=stopped.name) == 0.0
        up = [value(samples, "swarmredis_node_up", node=m.name) for m in members]
        assert sorted(up) == [0.0] + [1.0] * (len(members) - 1)


@contextmanager
def exporter_process(targets: Path, port: int) -> Iterator[None]:
    """`swarmredis exporter TARGETS --listen 127.0.0.1:PORT` while the block runs."""
    command = [sys.executable, "-m", "swarmredis", "exporter", str(targets)]
    server = subprocess.Popen(
        [*command, "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


def served(port: int, timeout_s: float = 10.0) -> Samples:
    """GET /metrics of a local exporter once it listens, parsed as Prometheus reads it."""
    text = ""

    def answers() -> bool:
        nonlocal text
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(url, timeout=timeout_s) as page:
                text = page.read().decode()
        except OSError:  # not listening yet
            return False
        return True

    eventually_sync(answers, 30, "the exporter answering")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples
