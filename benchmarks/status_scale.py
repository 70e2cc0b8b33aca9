#!/usr/bin/env python3
"""How the health check scales: `check_health` on 6, 30, 100 and 300 real Redis nodes.

Each size is a Redis Cluster of N TLS + ACL redis-server processes on 127.0.0.1 (N/2
shards x 1 replica), started by this script with the peers tests' helpers
(tests/peers/servers.py: the product's redis.conf, users.acl and certificates). Each
node starts with a nodes.conf that already names the whole cluster (ids, addresses,
roles, slots), so hundreds of nodes form in seconds;
swarmredis's own cluster bootstrap then checks it (nothing left to do once every node
agrees and every replica synced). ``--gossip`` forms it from fresh nodes with the
engine's bootstrap instead (minutes at 100 nodes). The same
code as `swarmredis status` then probes every node (one TLS connection per node per
check, all probes concurrent under the CapacityLimiter, a timeout per node) and judges the
cluster; this script times that, 5 times per size, and writes the medians to
docs/benchmarks/<date>-status-scale.json. Nothing is asserted. Every process is killed at
the end and on failure (SIGTERM included); nothing listens outside 127.0.0.1.

The nodes run with ``cluster-node-timeout 60000``: a node pings every peer it has not
heard from in half the node timeout, over TLS, and with the peers tests' 2000 ms a
100-node cluster's own gossip kept both CPUs of the lab machine busy (load average 100),
which measured Redis, not the fan-out. The cluster forms without the engine's fast window
(``configured=None``) for the same reason.

    benchmarks/status_scale.py                  sizes 6 30 100 300
    benchmarks/status_scale.py --sizes 6 30     fewer
    benchmarks/status_scale.py --profile DIR    also one check per size under pyinstrument
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # testkit, which tests/peers imports as pytest does

import anyio  # noqa: E402 - after the path for tests.peers

from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster  # noqa: E402
from swarmredis.engine.modes.registry import mode_for  # noqa: E402
from swarmredis.engine.redis.health import check_health  # noqa: E402
from swarmredis.engine.redis.verdict import HealthTarget, Status  # noqa: E402
from swarmredis.gateway.redis import Credentials, RedisAccess, TLSClientFiles  # noqa: E402
from swarmredis.pki.material import load_admin_credentials  # noqa: E402
from swarmredis.plan.placement import slot_ranges  # noqa: E402
from swarmredis.stackfile import topology  # noqa: E402
from tests.peers.product import cluster_shape, make_store  # noqa: E402
from tests.peers.servers import Lab, RedisProcess, cluster_members  # noqa: E402

REPS = 5
PROFILE_DIR: Path | None = None  # --profile DIR
QUIET_NODE_TIMEOUT_MS = "60000"


def preformed_cluster(lab: Lab, shards: int, replicas: int) -> list[RedisProcess]:
    """Start nodes that are one formed cluster from their first second: each gets a
    nodes.conf that names every node with its id, address, role and slots (the file Redis
    writes itself once a cluster formed). Gossip would take minutes to form hundreds of
    nodes at the quiet node timeout; the check measured is the same either way."""
    stack = cluster_shape(shards, replicas)
    processes = [lab.prepare(node.name, stack) for node in topology(stack)]
    total, slots = len(processes), slot_ranges(shards)
    ids = [secrets.token_hex(20) for _ in range(total)]
    entries = []
    for i, process in enumerate(processes):
        if i < shards:
            role, primary, epoch, owned = "master", "-", i + 1, f" {slots[i][0]}-{slots[i][1]}"
        else:
            shard = (i - shards) // replicas
            role, primary, epoch, owned = "slave", ids[shard], shard + 1, ""
        address = f"127.0.0.1:{process.port}@{process.port + 10000}"
        entries.append((ids[i], address, role, primary, epoch, owned))
    for i, process in enumerate(processes):
        lines = [
            f"{nid} {address} {'myself,' if j == i else ''}{role} {primary} 0 0 {epoch} "
            f"connected{owned}"
            for j, (nid, address, role, primary, epoch, owned) in enumerate(entries)
        ]
        lines.append(f"vars currentEpoch {shards} lastVoteEpoch 0")
        (process.data / "nodes.conf").write_text("\n".join(lines) + "\n")
        with process.config_path.open("a") as config:  # the last of two directives wins
            config.write(f"cluster-node-timeout {QUIET_NODE_TIMEOUT_MS}\n")
        process.start()
    return processes


def fresh_cluster(lab: Lab, shards: int, replicas: int) -> list[RedisProcess]:
    """Start every node of the cluster, none of them formed."""
    stack = cluster_shape(shards, replicas)
    return [lab.add_node(node.name, stack) for node in topology(stack)]


async def measure(lab: Lab, access: RedisAccess, size: int, preformed: bool) -> dict[str, Any]:
    """Start a cluster of ``size`` nodes, bootstrap it (``preformed``: start it formed,
    then let the engine's bootstrap check it), time ``check_health`` on it."""
    shards = size // 2
    started = time.monotonic()
    start = preformed_cluster if preformed else fresh_cluster
    processes = start(lab, shards, 1)
    members = cluster_members(processes, shards=shards, replicas=1)
    if not preformed:
        for member in members:
            async with access.connect(member.name, member.endpoint) as node:
                await node.execute("CONFIG", "SET", "cluster-node-timeout", QUIET_NODE_TIMEOUT_MS)
    start_s = time.monotonic() - started
    started = time.monotonic()
    # preformed: finds nothing to do once every node agrees and every replica synced
    await bootstrap_cluster(members, access, wait_timeout=900, ready_timeout=120)
    bootstrap_s = time.monotonic() - started
    targets = [
        HealthTarget(m.name, m.endpoint, m.role, primary=m.primary, slots=m.slots) for m in members
    ]
    mode = mode_for("cluster")
    if PROFILE_DIR is not None:  # one check under pyinstrument, its text report kept
        from pyinstrument import Profiler

        with Profiler(async_mode="enabled") as profiler:
            await check_health(mode, targets, access, stack="scale")
        (PROFILE_DIR / f"check-health-{size}.txt").write_text(
            profiler.output_text(unicode=False, show_all=False)
        )
    samples, status = [], ""
    for _ in range(REPS):
        started = time.monotonic()
        report = await check_health(mode, targets, access, stack="scale")
        samples.append(time.monotonic() - started)
        status = report.status.value
        if report.status is not Status.HEALTHY:
            problems = "; ".join(p.message for p in report.problems[:5])
            raise SystemExit(f"{size} nodes: {status}: {problems}")
    return {
        "nodes": size,
        "shards": shards,
        "start_processes_s": round(start_s, 2),
        "bootstrap_s": round(bootstrap_s, 2),
        "formed": "preformed nodes.conf" if preformed else "engine bootstrap from fresh nodes",
        "status": status,
        "check_health_s": {
            "median": round(statistics.median(samples), 3),
            "min": round(min(samples), 3),
            "max": round(max(samples), 3),
            "samples": [round(s, 3) for s in samples],
        },
    }


OUT = ROOT / "docs" / "benchmarks" / f"{datetime.now(UTC):%Y-%m-%d}-status-scale.json"


def write(results: list[dict[str, Any]]) -> None:
    """The report so far (after every size: a long run stopped half-way keeps its figures)."""
    base = results[0]["check_health_s"]["median"]
    for result in results:
        result["ratio_to_smallest"] = round(result["check_health_s"]["median"] / base, 2)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "reps": REPS,
        "node_timeout_ms": QUIET_NODE_TIMEOUT_MS,
        "results": results,
    }
    OUT.write_text(json.dumps(report, indent=2) + "\n")


async def run(sizes: list[int], root: Path, preformed: bool) -> list[dict[str, Any]]:
    store = make_store(root / "certs")
    admin = load_admin_credentials(store)
    files = TLSClientFiles(ca=admin.ca_path, cert=admin.cert_path, key=admin.key_path)
    access = RedisAccess(files, Credentials(admin.username, admin.password), timeout=10.0)
    results = []
    for size in sizes:
        lab = Lab(store, root / f"n{size}")
        try:
            result = await measure(lab, access, size, preformed)
        finally:
            lab.stop_all()
        median = result["check_health_s"]["median"]
        print(
            f"{size:4d} nodes: check_health median {median:.3f} s "
            f"(bootstrap {result['bootstrap_s']:.1f} s)",
            flush=True,
        )
        results.append(result)
        write(results)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[6, 30, 100, 300])
    parser.add_argument(
        "--gossip",
        action="store_true",
        help="form each cluster with the engine's bootstrap from fresh nodes (slow)",
    )
    parser.add_argument("--out", type=Path, help="default docs/benchmarks/<date>-status-scale.json")
    parser.add_argument("--profile", type=Path, help="also profile one check per size into DIR")
    args = parser.parse_args()
    global OUT, PROFILE_DIR
    OUT = args.out or OUT
    if args.profile:
        PROFILE_DIR = args.profile
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))  # 300 connections
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that every process is killed
    with tempfile.TemporaryDirectory(prefix="swarmredis-scale-") as tmp:
        results = anyio.run(run, sorted(args.sizes), Path(tmp), not args.gossip, backend="asyncio")
    for result in results:
        print(f"{result['nodes']:4d} nodes: {result['ratio_to_smallest']:.2f}x the smallest")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
