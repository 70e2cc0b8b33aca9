"""Sentinels over TLS with the generated sentinel-auth.conf, against real redis-server.

Same peers as test_pki_peers (whose helpers this module reuses):
two sentinels watch a TLS-only primary; they must see each other, and fail
over to the replica, without any command refused by the ACLs (ACL LOG empty).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from redis import exceptions as rexc
from test_pki_peers import (
    NODE_CONFIG,
    Server,
    client,
    make_spec,
    make_store,
    replica_config,
    wait_for,
)

from swarmredis.pki import acl
from swarmredis.pki.material import build_material
from swarmredis.pki.store import CertStore

Start = Callable[..., Server]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[tuple[CertStore, dict[str, bytes], Start, Server]]:
    """The store, its material, a way to start more servers, and a running primary."""
    store = make_store(tmp_path / "certs")
    material = build_material(store, make_spec())
    started: list[Server] = []

    def start(node: str, config: str, *args: str) -> Server:
        started.append(Server(tmp_path / node, node, material))
        return started[-1].start(config, *args)

    try:
        yield store, material, start, start("node-1", NODE_CONFIG)
    finally:
        for server in started:
            server.stop()


def sentinel_config(material: dict[str, bytes], primary: Server) -> str:
    """sentinel.conf as the plan builds it: monitor line, then sentinel-auth.conf."""
    auth = material["sentinel-auth.conf"].decode().replace("{", "{{").replace("}", "}}")
    return (
        f"sentinel monitor acme 127.0.0.1 {primary.port} 2\n"
        "sentinel down-after-milliseconds acme 1000\n"
        "sentinel failover-timeout acme 10000\n" + auth
    )


@pytest.mark.anyio
async def test_sentinels_watch_the_primary_and_each_other_with_least_privilege(
    peers: tuple[CertStore, dict[str, bytes], Start, Server],
) -> None:
    store, material, start, primary = peers
    config = sentinel_config(material, primary)
    sentinels = [start(f"sentinel-{i}", config, "--sentinel") for i in (1, 2)]
    async with (
        client(store, primary, acl.ADMIN) as p,
        client(store, sentinels[0], acl.ADMIN) as s1,
        client(store, sentinels[1], "app") as app,
    ):

        async def peers_healthy() -> bool:
            found = await s1.sentinel_sentinels("acme")
            return (
                len(found) == 1
                and not found[0]["is_sdown"]
                and found[0]["last-ok-ping-reply"] < 1000
            )

        await wait_for(peers_healthy, "the sentinels to see each other up")
        # Longer than down-after and than the 2 s hello period: refused pings would
        # turn the peer s_down, refused hello PUBLISHes would show in ACL LOG.
        await anyio.sleep(2.5)
        assert await peers_healthy()
        master = await s1.sentinel_master("acme")
        assert master["is_master"] and not master["is_sdown"]
        assert await p.acl_log() == []
        assert await s1.acl_log() == []
        async with client(store, sentinels[1], acl.ADMIN) as s2:
            assert await s2.acl_log() == []
        assert await app.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "acme") == [
            "127.0.0.1",
            str(primary.port),
        ]
        with pytest.raises(rexc.NoPermissionError):
            await app.execute_command("SENTINEL", "FAILOVER", "acme")


@pytest.mark.anyio
async def test_sentinels_fail_over_with_the_sentinel_user(
    peers: tuple[CertStore, dict[str, bytes], Start, Server],
) -> None:
    store, material, start, primary = peers
    replica = start("node-2", replica_config(primary))
    config = sentinel_config(material, primary)
    sentinels = [start(f"sentinel-{i}", config, "--sentinel") for i in (1, 2)]
    async with client(store, sentinels[0], acl.ADMIN) as s1, client(store, replica, acl.ADMIN) as r:

        async def ready() -> bool:
            master = await s1.sentinel_master("acme")
            return bool(master["num-slaves"] == 1 and master["num-other-sentinels"] == 1)

        await wait_for(ready, "the sentinels to know the replica and each other")
        primary.stop()

        async def promoted() -> bool:
            try:
                return bool((await r.info("replication"))["role"] == "master")
            except rexc.ConnectionError:  # CLIENT KILL TYPE normal, sent on promotion
                return False

        async def switched() -> bool:
            addr = await s1.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "acme")
            return bool(addr == ["127.0.0.1", str(replica.port)])

        await wait_for(promoted, "the replica to be promoted")
        await wait_for(switched, "the sentinels to switch to the new primary")
        # MULTI, SLAVEOF NO ONE, CONFIG REWRITE, CLIENT KILL, EXEC: none refused
        assert await r.acl_log() == []
