"""Cluster mode: a replica syncs over TLS (tls-cluster, tls-replication) with the same
``replication`` user, so cluster replicas need no CLUSTER commands in it; both nodes run
the product's redis.conf and users.acl."""

from __future__ import annotations

import pytest
from testkit import eventually, tls_client

from swarmredis.pki import acl
from swarmredis.pki.store import CertStore

from .product import CLUSTER
from .servers import Lab

pytestmark = pytest.mark.anyio


async def test_cluster_replica_syncs_with_the_replication_user(lab: Lab, store: CertStore) -> None:
    primary, replica = lab.add_node("node-1", CLUSTER), lab.add_node("node-4", CLUSTER)
    async with (
        tls_client(primary.endpoint, store, acl.ADMIN) as p,
        tls_client(replica.endpoint, store, acl.ADMIN) as r,
    ):
        assert await p.execute_command("CLUSTER", "ADDSLOTSRANGE", "0", "16383") == "OK"
        assert await r.execute_command("CLUSTER", "MEET", "127.0.0.1", str(primary.port)) == "OK"
        primary_id = await p.execute_command("CLUSTER", "MYID")

        async def knows_primary() -> bool:
            nodes = await r.execute_command("CLUSTER", "NODES")
            return bool(primary_id in str(nodes))

        await eventually(knows_primary, 15, "the replica to learn the primary over the TLS bus")
        assert await r.execute_command("CLUSTER", "REPLICATE", primary_id) == "OK"

        async def link_up() -> bool:
            return bool((await r.info("replication")).get("master_link_status") == "up")

        async def cluster_ok() -> bool:
            return "cluster_state:ok" in str(await p.execute_command("CLUSTER", "INFO"))

        async def replicated() -> bool:
            return bool(await r.dbsize() == 1)

        await eventually(link_up, 15, "master_link_status:up in cluster mode")
        await eventually(cluster_ok, 15, "cluster_state:ok")
        assert await p.set("app:{1}", "v") is True
        await eventually(replicated, 15, "the key on the replica")
        assert await p.acl_log() == []
