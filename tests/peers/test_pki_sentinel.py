"""Sentinels running the product's sentinel.conf and sentinel-auth.conf over TLS, watching
nodes that run its redis.conf and users.acl: they must see each other and fail over to
the replica without any command refused by the ACLs (ACL LOG empty)."""

from __future__ import annotations

import re

import pytest
import redis.asyncio as aioredis
from redis import exceptions as rexc
from testkit import eventually, tls_client

from swarmredis.pki import acl
from swarmredis.pki.store import CertStore

from .product import MASTER_NAME, REPLICATION
from .servers import Lab

pytestmark = pytest.mark.anyio


async def calls(node: aioredis.Redis, command: str) -> int:
    """How often the data node ``node`` has run ``command`` (refused calls do not count;
    a sentinel's INFO has no commandstats)."""
    stats = await node.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_sentinels_watch_the_primary_and_each_other_with_least_privilege(
    lab: Lab, store: CertStore
) -> None:
    primary = lab.add_node("node-1", REPLICATION)
    sentinels = [lab.add_node(f"sentinel-{i}", REPLICATION) for i in (1, 2)]
    async with (
        tls_client(primary.endpoint, store, acl.ADMIN) as p,
        tls_client(sentinels[0].endpoint, store, acl.ADMIN) as s1,
        tls_client(sentinels[1].endpoint, store, acl.ADMIN) as s2,
        tls_client(sentinels[1].endpoint, store, "app") as app,
    ):

        async def hellos_exchanged() -> bool:
            """Two hello periods (2 s) have passed: the primary has relayed two hellos of
            each sentinel; and sentinel-1 has heard from sentinel-2 directly, hello and
            ping, within the last period. Refused commands would show in the ACL logs."""
            peers = await s1.sentinel_sentinels(MASTER_NAME)
            return (
                await calls(p, "publish") >= 4
                and len(peers) == 1
                and peers[0]["last-hello-message"] < 2000
                and peers[0]["last-ok-ping-reply"] < 2000
            )

        await eventually(hellos_exchanged, 20, "the sentinels' hellos and pings")
        found = await s1.sentinel_sentinels(MASTER_NAME)
        assert [(s["port"], s["is_sdown"]) for s in found] == [(sentinels[1].port, False)]
        master = await s1.sentinel_master(MASTER_NAME)
        assert master["is_master"] and not master["is_sdown"]
        for node in (p, s1, s2):
            assert await node.acl_log() == []
        reply = await app.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        assert reply == ["127.0.0.1", str(primary.port)]
        refusal = "this user has no permissions to run the 'sentinel|failover' command"
        with pytest.raises(rexc.NoPermissionError, match=re.escape(refusal)):
            await app.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)


async def test_sentinels_fail_over_with_the_sentinel_user(lab: Lab, store: CertStore) -> None:
    primary = lab.add_node("node-1", REPLICATION)
    replica = lab.add_node("node-2", REPLICATION)  # replicaof node-1, in its redis.conf
    # all three of the stack: with two, a split vote delays the failover by 2 x its timeout
    sentinels = [lab.add_node(f"sentinel-{i}", REPLICATION) for i in (1, 2, 3)]
    async with (
        tls_client(sentinels[0].endpoint, store, acl.ADMIN) as s1,
        tls_client(replica.endpoint, store, acl.ADMIN) as r,
        tls_client(sentinels[1].endpoint, store, "app") as app,
        app.pubsub() as events,
    ):
        await events.subscribe("+switch-master")  # what a Sentinel-aware application follows
        heard: list[str] = []

        async def ready() -> bool:
            master = await s1.sentinel_master(MASTER_NAME)
            return bool(master["num-slaves"] == 1 and master["num-other-sentinels"] == 2)

        await eventually(ready, 15, "the sentinels to know the replica and each other")
        primary.stop()

        async def promoted() -> bool:
            try:
                return bool((await r.info("replication"))["role"] == "master")
            except rexc.ConnectionError:  # CLIENT KILL TYPE normal, sent on promotion
                return False

        async def switched() -> bool:
            addr = await s1.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
            return bool(addr == ["127.0.0.1", str(replica.port)])

        async def app_told() -> bool:
            message = await events.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                heard.append(message["data"])
            return bool(heard)

        await eventually(promoted, 30, "the replica to be promoted")
        await eventually(switched, 15, "the sentinels to switch to the new primary")
        await eventually(app_told, 15, "the app user to hear +switch-master")
        assert heard == [f"{MASTER_NAME} 127.0.0.1 {primary.port} 127.0.0.1 {replica.port}"]
        # MULTI, SLAVEOF NO ONE, CONFIG REWRITE, CLIENT KILL, EXEC on the replica; votes
        # (SENTINEL IS-MASTER-DOWN-BY-ADDR) and hellos between the sentinels: none refused
        assert await r.acl_log() == []
        for sentinel in sentinels:
            async with tls_client(sentinel.endpoint, store, acl.ADMIN) as admin:
                assert await admin.acl_log() == [], sentinel.name
