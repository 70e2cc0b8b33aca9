"""The Redis gateway against a real TLS redis-server: connect, commands, error mapping."""

from __future__ import annotations

import dataclasses
import socket
import struct

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from testkit import free_port

from swarmredis.engine.modes.base import Member
from swarmredis.engine.redis.nodes import HANDSHAKE_ATTEMPTS, connect_all
from swarmredis.engine.redis.replies import parse_info, parse_role
from swarmredis.errors import (
    RedisAuthError,
    RedisError,
    RedisHandshakeClosed,
    RedisTLSError,
    RedisUnreachable,
)
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.gateway.redis import (
    Credentials,
    RedisAccess,
    TLSClientFiles,
    client_context,
    connect_node,
)
from swarmredis.pki import acl
from swarmredis.pki.store import CertStore

from .product import CLUSTER, STANDALONE, foreign_client
from .servers import Lab

pytestmark = pytest.mark.anyio


async def test_connects_with_tls_and_acl_user(lab: Lab, access: RedisAccess) -> None:
    node = lab.add_node("node-1", STANDALONE)
    async with access.connect("node-1", RedisEndpoint("127.0.0.1", node.port)) as redis:
        await redis.ping()
        assert parse_role(await redis.role()).kind == "primary"
        assert parse_info(await redis.info("server"))["tcp_port"] == str(node.port)
        assert await redis.execute("ACL", "WHOAMI") == acl.ADMIN


async def test_server_name_is_checked_when_given(lab: Lab, access: RedisAccess) -> None:
    node = lab.add_node("node-1", STANDALONE)
    endpoint = RedisEndpoint("127.0.0.1", node.port)
    async with access.connect("node-1", endpoint, server_name="acme-node-1") as redis:
        await redis.ping()
    with pytest.raises(RedisTLSError, match=r"node-1 at 127.0.0.1:.*TLS handshake failed"):
        async with access.connect("node-1", endpoint, server_name="node-7"):
            pass


async def test_refused_port_is_unreachable_over_tcp(access: RedisAccess) -> None:
    port = free_port()
    expected = rf"node-9 at 127\.0\.0\.1:{port}: TCP connection refused"
    with pytest.raises(RedisUnreachable, match=expected):
        async with access.connect("node-9", RedisEndpoint("127.0.0.1", port)):
            pass


async def test_certificate_from_another_ca_fails_the_handshake(
    lab: Lab, store: CertStore, access: RedisAccess
) -> None:
    node = lab.add_node("node-1", STANDALONE)
    cert, key = foreign_client(lab.root, store)
    rogue = TLSClientFiles(ca=store.ca_bundle, cert=cert, key=key)
    with pytest.raises(RedisTLSError, match=r"node-1 at .*TLS"):
        async with connect_node(
            "node-1", RedisEndpoint("127.0.0.1", node.port), rogue, access.credentials, timeout=3
        ):
            pass


async def test_wrong_password_is_an_auth_error_not_unreachable(
    lab: Lab, access: RedisAccess
) -> None:
    node = lab.add_node("node-1", STANDALONE)
    bad = dataclasses.replace(access, credentials=Credentials(acl.ADMIN, "nope"))
    with pytest.raises(RedisAuthError, match=r"node-1 at .*auth failed") as caught:
        async with bad.connect("node-1", RedisEndpoint("127.0.0.1", node.port)):
            pass
    assert not isinstance(caught.value, RedisUnreachable)


async def test_refused_command_names_node_and_command(lab: Lab, access: RedisAccess) -> None:
    node = lab.add_node("node-1", CLUSTER)
    async with access.connect("node-1", RedisEndpoint("127.0.0.1", node.port)) as redis:
        with pytest.raises(RedisError, match=r": CLUSTER REPLICATE: refused: .*Unknown") as caught:
            await redis.execute("CLUSTER", "REPLICATE", "0" * 40)
        assert (caught.value.node, caught.value.command, caught.value.code) == (
            "node-1",
            "CLUSTER REPLICATE",
            "ERR",
        )
        await redis.ping()  # the connection is still usable after a refused command


async def test_slow_reply_is_a_timeout_and_the_connection_recovers(
    lab: Lab, access: RedisAccess
) -> None:
    node = lab.add_node("node-1", STANDALONE)
    quick = dataclasses.replace(access, timeout=0.5)
    async with quick.connect("node-1", RedisEndpoint("127.0.0.1", node.port)) as redis:
        # BLPOP on an empty list replies after its own 1 s timeout (the product's
        # redis.conf rightly leaves DEBUG off); the connection is dropped and dialled again
        with pytest.raises(RedisUnreachable, match=r"BLPOP: no reply within 0.5s"):
            await redis.execute("BLPOP", "app:empty", "1")
        await redis.ping()


async def test_lost_connection_is_unreachable(lab: Lab, access: RedisAccess) -> None:
    node = lab.add_node("node-1", STANDALONE)
    async with access.connect("node-1", RedisEndpoint("127.0.0.1", node.port)) as redis:
        node.stop()
        with pytest.raises(RedisUnreachable, match=r"node-1 at .*: PING"):
            await redis.ping()


async def test_a_lost_pipeline_names_its_commands_with_repeats_counted(
    lab: Lab, access: RedisAccess
) -> None:
    """A batch of slot moves pipelines 64 MIGRATEs: the error says ``64 x MIGRATE``."""
    node = lab.add_node("node-1", STANDALONE)
    async with access.connect("node-1", RedisEndpoint("127.0.0.1", node.port)) as redis:
        node.stop()
        with pytest.raises(RedisUnreachable, match=r"node-1 at .*: SET \+ 3 x PING \+ GET:"):
            await redis.pipeline(("SET", "app:a", "1"), *[("PING",)] * 3, ("GET", "app:a"))


async def test_connection_reset_mid_handshake_is_tried_a_few_times_then_reported(
    access: RedisAccess,
) -> None:
    """A peer that resets the connection during the handshake (Sentinel's CLIENT KILL looks
    like this, and so may a refused certificate): connect_all tries it HANDSHAKE_ATTEMPTS
    times, then reports it, instead of retrying until ready_timeout."""
    accepted = 0

    async def reset(stream: SocketStream) -> None:
        nonlocal accepted
        accepted += 1
        raw = stream.extra(SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await stream.aclose()  # RST, no TLS alert

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    member = Member("node-1", RedisEndpoint("127.0.0.1", port))
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, reset)
        with pytest.raises(RedisHandshakeClosed, match="closed during TLS handshake") as caught:
            async with connect_all(
                [member], access, limiter=anyio.CapacityLimiter(1), ready_timeout=60
            ):
                pass
        tg.cancel_scope.cancel()
    assert accepted == HANDSHAKE_ATTEMPTS
    assert "still after" not in str(caught.value)


async def test_a_node_still_loading_its_dataset_is_waited_for_then_used(
    lab: Lab, access: RedisAccess
) -> None:
    """A restarted node accepts connections and AUTH while it loads its data, and refuses
    PING (and other commands without the loading flag) with LOADING: connect_all waits
    until it serves (the lab: a rolling restart of a primary with 20,000 keys)."""
    node = lab.add_node("node-1", STANDALONE)
    async with access.connect("node-1", node.endpoint) as redis:
        value = "x" * 2048
        await redis.pipeline(*[("SET", f"app:{i}", value) for i in range(100)], ("SAVE",))
    node.stop()
    with node.config_path.open("a") as config:
        # 20 ms a key: about 2 s of loading, and clients served every 1 KiB loaded (else
        # Redis serves them only every 2 MiB: after the whole of this small dataset)
        config.write("key-load-delay 20000\nloading-process-events-interval-bytes 1024\n")
    node.start()
    async with access.connect("node-1", node.endpoint) as early:
        with pytest.raises(RedisUnreachable, match="PING: still loading its dataset"):
            await early.ping()
    member = Member("node-1", node.endpoint)
    started = anyio.current_time()
    async with connect_all([member], access, limiter=anyio.CapacityLimiter(1)) as nodes:
        waited = anyio.current_time() - started
        assert await nodes["node-1"].execute("DBSIZE") == 100
    assert waited > 0.5, "connect_all returned while the node was still loading"


def test_the_client_trusts_only_the_stacks_ca(access: RedisAccess) -> None:
    context = client_context(access.tls, check_hostname=True)
    assert len(context.get_ca_certs()) == 1  # the stack's CA, none of the system's
    assert context.check_hostname and context.minimum_version.name == "TLSv1_2"


async def test_one_access_builds_its_tls_context_once(lab: Lab, access: RedisAccess) -> None:
    node = lab.add_node("node-1", CLUSTER)
    fresh = dataclasses.replace(access)  # a copy starts with no contexts of its own
    for _ in range(3):
        async with fresh.connect("node-1", RedisEndpoint("127.0.0.1", node.port)) as redis:
            await redis.ping()
    assert list(fresh.contexts) == [False]
    assert access.contexts is not fresh.contexts
