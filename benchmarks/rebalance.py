#!/usr/bin/env python3
"""Slot moves side by side: swarmredis's rebalance and `redis-cli --cluster rebalance`.

Each repetition runs both contenders, in an order that rotates by one per repetition, on
the same shape and data: a fresh 3 x 1 cluster of local TLS + ACL redis-server processes
(the peers tests' helpers, tests/peers/servers.py: the product's redis.conf, users.acl
and certificates), ``--keys`` keys loaded, then a fourth shard (node-7, its replica node-8)
started and joined, then the slots moved until every shard holds 4096:

- swarmredis: ``bootstrap_cluster`` with the four shards' members, as ``deploy`` runs it
  (MEET, REPLICATE, then the rebalance: 64-slot batches, each protocol step pipelined);
  timed: its ``rebalance`` phase;
- redis-cli (the Debian package's, 7.0): ``--cluster add-node`` for node-7 and
  ``add-node --cluster-slave`` for node-8, ``--cluster check`` until the nodes agree,
  then ``--cluster rebalance --cluster-use-empty-masters`` (one slot at a time, 10 keys
  per MIGRATE: ``--cluster-pipeline`` default); timed: that command. The same client
  certificate and admin user; the password in REDISCLI_AUTH, not on the command line.

Afterwards every key is read back and the shares counted: a contender that loses a key
or leaves the shares uneven is reported as failed. Each contender's time covers the moves
only (not the join). Results: docs/benchmarks/<date>-rebalance.json and the medians on
stdout. Nothing is asserted about time. Every process is killed at the end and on
failure; nothing listens outside 127.0.0.1.

    benchmarks/rebalance.py                    3 repetitions, 20,000 keys
    benchmarks/rebalance.py --reps 5 --keys 50000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # testkit, which tests/peers imports as pytest does

import anyio  # noqa: E402 - after the path for tests.peers
from redis.crc import key_slot  # noqa: E402

from swarmredis.constants import CLUSTER_SLOTS  # noqa: E402
from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster  # noqa: E402
from swarmredis.engine.modes.cluster.members import ClusterMember  # noqa: E402
from swarmredis.engine.redis.nodes import wait_until  # noqa: E402
from swarmredis.engine.redis.replies import parse_cluster_nodes  # noqa: E402
from swarmredis.gateway.redis import (  # noqa: E402
    Credentials,
    RedisAccess,
    RedisNode,
    TLSClientFiles,
)
from swarmredis.pki.material import AdminCredentials, load_admin_credentials  # noqa: E402
from tests.peers.product import LOOPBACK, make_store, stack_of  # noqa: E402
from tests.peers.servers import Lab  # noqa: E402
from tests.peers.test_scale_out import grown_layout, members_of  # noqa: E402

REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
OUT = ROOT / "docs" / "benchmarks" / f"{datetime.now(UTC):%Y-%m-%d}-rebalance.json"
JOIN_WITHIN_S = 60.0
LOAD_BATCH = 1000


async def _connect_all(
    access: RedisAccess, members: list[ClusterMember], stack: AsyncExitStack
) -> dict[str, RedisNode]:
    return {
        m.name: await stack.enter_async_context(access.connect(m.name, m.endpoint)) for m in members
    }


async def _owners(nodes: dict[str, RedisNode]) -> dict[int, str]:
    """Slot -> the member serving it, from each primary's own line."""
    ids = {str(await n.execute("CLUSTER", "MYID")): name for name, n in nodes.items()}
    found: dict[int, str] = {}
    for node in nodes.values():
        table = parse_cluster_nodes(str(await node.execute("CLUSTER", "NODES")))
        me = next(n for n in table if n.myself)
        for start, end in me.slots if me.is_primary else ():
            for slot in range(start, end + 1):
                found[slot] = ids[me.node_id]
    return found


async def _load(nodes: dict[str, RedisNode], keys: int) -> dict[str, str]:
    where = await _owners(nodes)
    values = {f"bench:{i}": f"value-{i}" for i in range(keys)}
    by_owner: dict[str, list[tuple[str, str]]] = {}
    for key, value in values.items():
        by_owner.setdefault(where[key_slot(key.encode())], []).append((key, value))
    for owner, items in by_owner.items():
        for start in range(0, len(items), LOAD_BATCH):
            batch = items[start : start + LOAD_BATCH]
            await nodes[owner].pipeline(*(("SET", k, v) for k, v in batch))
    return values


async def _check(nodes: dict[str, RedisNode], values: dict[str, str]) -> dict[str, Any]:
    """Every key where its slot's owner serves it, and the shares."""
    where = await _owners(nodes)
    lost = 0
    by_owner: dict[str, list[str]] = {}
    for key in values:
        by_owner.setdefault(where[key_slot(key.encode())], []).append(key)
    for owner, keys in by_owner.items():
        for start in range(0, len(keys), LOAD_BATCH):
            batch = keys[start : start + LOAD_BATCH]
            replies = await nodes[owner].pipeline(*(("GET", k) for k in batch))
            lost += sum(1 for k, got in zip(batch, replies, strict=True) if got != values[k])
    shares: dict[str, int] = {}
    for owner in where.values():
        shares[owner] = shares.get(owner, 0) + 1
    moved = await nodes["node-7"].read(int, "DBSIZE")
    covered = len(where) == CLUSTER_SLOTS
    even = covered and len(shares) == 4 and max(shares.values()) - min(shares.values()) <= 1
    return {"lost": lost, "shares": shares, "even": even, "keys_moved": moved}


def _cli_env(admin: AdminCredentials) -> dict[str, str]:
    return {**os.environ, "REDISCLI_AUTH": admin.password}


def _cli_args(admin: AdminCredentials) -> list[str]:
    return [
        REDIS_CLI,
        "--tls",
        "--cacert",
        str(admin.ca_path),
        "--cert",
        str(admin.cert_path),
        "--key",
        str(admin.key_path),
        "--user",
        admin.username,
    ]


async def _cli(admin: AdminCredentials, *args: str, check: bool = True) -> int:
    done = await anyio.run_process(
        [*_cli_args(admin), *args], env=_cli_env(admin), check=False, input=b"yes\n"
    )
    if check and done.returncode != 0:
        tail = (done.stdout + done.stderr).decode(errors="replace")[-1500:]
        raise RuntimeError(f"redis-cli {' '.join(args[:2])} failed ({done.returncode}):\n{tail}")
    return done.returncode


async def _state_ok(node: RedisNode) -> bool:
    return "cluster_state:ok" in str(await node.execute("CLUSTER", "INFO"))


async def _agreed(
    admin: AdminCredentials, seed: str, nodes: dict[str, RedisNode], joined: str
) -> None:
    """Poll until every node lists the node that just ``joined`` and ``--cluster check``
    says they agree (redis-cli refuses to go on before)."""

    async def pending() -> list[str]:
        tables = [str(await node.execute("CLUSTER", "NODES")) for node in nodes.values()]
        if not all(joined in table for table in tables):
            return [f"{joined[:8]} not known everywhere yet"]
        code = await _cli(admin, "--cluster", "check", seed, check=False)
        return [] if code == 0 else ["redis-cli --cluster check fails"]

    await wait_until(pending, within=JOIN_WITHIN_S, what="nodes agreeing")


async def _redis_cli_rebalance(
    admin: AdminCredentials, members: list[ClusterMember], nodes: dict[str, RedisNode]
) -> float:
    """Join node-7 and node-8 with redis-cli, wait until the nodes agree, then time the
    rebalance."""
    port = {m.name: m.meet_port for m in members}
    seed = f"{LOOPBACK}:{port['node-1']}"
    seven = str(await nodes["node-7"].execute("CLUSTER", "MYID"))
    eight = str(await nodes["node-8"].execute("CLUSTER", "MYID"))
    await _cli(admin, "--cluster", "add-node", f"{LOOPBACK}:{port['node-7']}", seed)
    joined = {name: node for name, node in nodes.items() if name != "node-8"}
    await _agreed(admin, seed, joined, seven)
    await _cli(
        admin,
        "--cluster",
        "add-node",
        f"{LOOPBACK}:{port['node-8']}",
        seed,
        "--cluster-slave",
        "--cluster-master-id",
        seven,
    )
    await _agreed(admin, seed, nodes, eight)
    # every node's cluster_state ok, as swarmredis's bootstrap waits for before moving

    async def not_ok() -> list[str]:
        return [name for name, node in nodes.items() if not await _state_ok(node)]

    await wait_until(not_ok, within=JOIN_WITHIN_S, what="cluster_state ok")
    started = time.monotonic()
    await _cli(admin, "--cluster", "rebalance", seed, "--cluster-use-empty-masters")
    return time.monotonic() - started


async def _swarmredis_rebalance(access: RedisAccess, members: list[ClusterMember]) -> float:
    report = await bootstrap_cluster(members, access, wait_timeout=120)
    return report.phases["rebalance"]


async def one_run(
    contender: str, root: Path, store: Any, access: RedisAccess, admin: AdminCredentials, keys: int
) -> dict[str, Any]:
    """One contender on a fresh cluster: its moves timed, then every key checked."""
    lab = Lab(store, root)
    try:
        processes = {p.name: p for p in lab.cluster(shards=3, replicas=1)}
        three = members_of(processes, None, 3)
        await bootstrap_cluster(three, access, wait_timeout=60)
        layout, four = grown_layout(), stack_of("cluster", shards=4)
        for name in ("node-7", "node-8"):
            processes[name] = lab.add_node(name, four, layout)
        members = members_of(processes, layout, 4)
        async with AsyncExitStack() as stack:
            nodes = await _connect_all(access, members, stack)
            values = await _load({m.name: nodes[m.name] for m in three}, keys)
            if contender == "swarmredis":
                seconds = await _swarmredis_rebalance(access, members)
            else:
                seconds = await _redis_cli_rebalance(admin, members, nodes)
            checked = await _check(nodes, values)
    finally:
        lab.stop_all()
    rate = checked["keys_moved"] / seconds if seconds else 0.0
    return {
        "contender": contender,
        "seconds": round(seconds, 3),
        "keys_per_s": round(rate, 1),
        **checked,
    }


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for contender in ("swarmredis", "redis-cli"):
        mine = [r for r in runs if r["contender"] == contender]
        seconds = [r["seconds"] for r in mine]
        out[contender] = {
            "seconds_median": round(statistics.median(seconds), 3),
            "seconds_min": min(seconds),
            "seconds_max": max(seconds),
            "keys_per_s_median": round(statistics.median(r["keys_per_s"] for r in mine), 1),
            "all_keys_back": all(r["lost"] == 0 for r in mine),
            "all_even": all(r["even"] for r in mine),
        }
    ours, theirs = out["swarmredis"]["seconds_median"], out["redis-cli"]["seconds_median"]
    out["redis_cli_over_swarmredis"] = round(theirs / ours, 2) if ours else None
    return out


async def run(reps: int, keys: int, root: Path) -> dict[str, Any]:
    store = make_store(root / "certs")
    admin = load_admin_credentials(store)
    files = TLSClientFiles(ca=admin.ca_path, cert=admin.cert_path, key=admin.key_path)
    access = RedisAccess(files, Credentials(admin.username, admin.password), timeout=10.0)
    version = (await anyio.run_process([REDIS_CLI, "--version"])).stdout.decode().strip()
    runs = []
    order = ["swarmredis", "redis-cli"]
    for rep in range(reps):
        for contender in order[rep % 2 :] + order[: rep % 2]:
            result = await one_run(
                contender, root / f"{rep}-{contender}", store, access, admin, keys
            )
            result["rep"] = rep + 1
            print(
                f"rep {rep + 1} {contender:10s} {result['seconds']:7.2f} s "
                f"{result['keys_per_s']:9.1f} keys/s, {result['keys_moved']} keys moved,"
                f" lost {result['lost']}, even {result['even']}",
                flush=True,
            )
            runs.append(result)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "redis_cli": version,
        "shape": "3 x 1 -> 4 x 1 (node-7 primary, node-8 replica), 16384 / 4 slots moved",
        "keys": keys,
        "reps": reps,
        "runs": runs,
        "summary": _summary(runs),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="swarmredis-rebalance-") as tmp:
        report = anyio.run(run, args.reps, args.keys, Path(tmp))
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
