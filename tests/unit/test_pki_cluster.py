"""Cluster mode: a replica syncs over TLS (tls-cluster, tls-replication) with the same
``replication`` user, so cluster replicas need no CLUSTER commands in it.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_pki_peers import NODE_CONFIG, Server, client, make_spec, make_store, wait_for

from swarmredis.pki import acl
from swarmredis.pki.material import build_material
from swarmredis.pki.store import CertStore

BUS_OFFSET = 10000
CLUSTER_CONFIG = (
    NODE_CONFIG + "cluster-enabled yes\ncluster-config-file {dir}/nodes.conf\n"
    "tls-cluster yes\ncluster-node-timeout 2000\ninclude {dir}/replication-auth.conf\n"
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0 and _bindable(port)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_pair() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 50000)
        if _free(port) and _free(port + BUS_OFFSET):
            return port
    raise AssertionError("no free port pair for a cluster node")


@pytest.fixture
def cluster_nodes(tmp_path: Path) -> Iterator[tuple[CertStore, Server, Server]]:
    store = make_store(tmp_path / "certs")
    material = build_material(store, make_spec())
    nodes = [Server(tmp_path / name, name, material) for name in ("node-1", "node-2")]
    try:
        for node in nodes:
            node.port = port_pair()
            node.start(CLUSTER_CONFIG)
        yield store, nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.stop()


@pytest.mark.anyio
async def test_cluster_replica_syncs_with_the_replication_user(
    cluster_nodes: tuple[CertStore, Server, Server],
) -> None:
    store, primary, replica = cluster_nodes
    async with client(store, primary, acl.ADMIN) as p, client(store, replica, acl.ADMIN) as r:
        await p.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        await r.execute_command("CLUSTER", "MEET", "127.0.0.1", str(primary.port))
        primary_id = await p.execute_command("CLUSTER", "MYID")

        async def knows_primary() -> bool:
            nodes = await r.execute_command("CLUSTER", "NODES")
            return bool(primary_id in str(nodes))

        await wait_for(knows_primary, "the replica to learn the primary over the TLS bus")
        await r.execute_command("CLUSTER", "REPLICATE", primary_id)

        async def link_up() -> bool:
            return bool((await r.info("replication")).get("master_link_status") == "up")

        async def cluster_ok() -> bool:
            return "cluster_state:ok" in str(await p.execute_command("CLUSTER", "INFO"))

        async def replicated() -> bool:
            return bool(await r.dbsize() == 1)

        await wait_for(link_up, "master_link_status:up in cluster mode")
        await wait_for(cluster_ok, "cluster_state:ok")
        await p.set("app:{1}", "v")
        await wait_for(replicated, "the key on the replica")
        assert await p.acl_log() == []
