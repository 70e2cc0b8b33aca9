"""A node that answers garbage, half a reply, nonsense, or nothing (issue 10).

The real gateway, fact reader, health check and a mode's bootstrap are driven against
``fakenode``; each case must end within a bound in a swarmredis error that names the
node and its endpoint (or a health line with that text), never a raw parser exception
or a hang.
"""

from __future__ import annotations

import random
import re

import anyio
import pytest

from swarmredis.engine.modes.base import Member
from swarmredis.engine.modes.registry import mode_for
from swarmredis.engine.modes.standalone import bootstrap_standalone
from swarmredis.engine.redis.health import check_health
from swarmredis.engine.redis.probe import read_facts
from swarmredis.engine.redis.verdict import HealthTarget, Status
from swarmredis.errors import RedisError, RedisReplyError, RedisUnreachable
from swarmredis.gateway.redis import RedisAccess
from swarmredis.pki.store import CertStore

from .fakenode import (
    CLOSE,
    HANG,
    OK,
    Answer,
    FakeNode,
    ServerFiles,
    array,
    bulk,
    fake_node,
    integer,
)
from .product import stack_material, stack_of

pytestmark = pytest.mark.anyio

TIMEOUT = 1.0  # the access's per-command timeout
BOUND = 5.0  # no case may take longer than this
# not RESP: the first byte is no type marker, and the line ends as RESP lines do
GARBAGE = b"\x00\x9c\xffSSH-2.0-OpenSSH_9.6 \x07\x08\r\n"
# random bytes: redis-py reads a line that ends in "\n" without "\r" as the server closing
NOISE = random.Random(10).randbytes(600)
MYSELF = "a" * 40 + " 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383"
GOOD_INFO = bulk("# Server\r\nredis_version:7.2.4\r\nrun_id:" + "b" * 40 + "\r\n")
MASTER_ROLE = array(bulk("master"), integer(0), array())


@pytest.fixture(scope="module")
def tls(store: CertStore) -> ServerFiles:
    """node-1's certificate of the peers' cluster stack, issued by the store's CA."""
    stack_material(store, stack_of("cluster"))
    return ServerFiles(store.node_cert("node-1"), store.node_key("node-1"))


@pytest.fixture
def quick(access: RedisAccess) -> RedisAccess:
    return RedisAccess(access.tls, access.credentials, timeout=TIMEOUT)


def where(node: FakeNode) -> str:
    return re.escape(f"node-x at {node.endpoint}")


async def connect_and(quick: RedisAccess, node: FakeNode, *command: str) -> None:
    with anyio.fail_after(BOUND):
        async with quick.connect("node-x", node.endpoint) as redis:
            await redis.execute(*command)


# -- the gateway: what comes back on the wire -----------------------------------------


async def test_garbage_instead_of_an_auth_reply(tls: ServerFiles, quick: RedisAccess) -> None:
    async with fake_node({"AUTH": Answer(GARBAGE)}, tls) as node:
        expected = f"{where(node)}: answered AUTH with something that is not Redis"
        with pytest.raises(RedisReplyError, match=expected) as caught:
            await connect_and(quick, node, "PING")
    assert (caught.value.endpoint, caught.value.command) == (str(node.endpoint), None)


async def test_garbage_instead_of_a_reply(tls: ServerFiles, quick: RedisAccess) -> None:
    async with fake_node({"PING": Answer(GARBAGE)}, tls) as node:
        expected = f"{where(node)}: PING: a reply that is not Redis \\(RESP\\)"
        with pytest.raises(RedisReplyError, match=expected) as caught:
            await connect_and(quick, node, "PING")
    assert caught.value.node == "node-x" and caught.value.endpoint == str(node.endpoint)
    assert node.commands == ["AUTH", "PING"]


@pytest.mark.parametrize(("command", "after"), [("AUTH", ""), ("PING", "PING: connection lost: ")])
async def test_random_bytes(tls: ServerFiles, quick: RedisAccess, command: str, after: str) -> None:
    # redis-py reads a line ending in a bare "\n" as the server closing: said as such
    async with fake_node({command: Answer(NOISE)}, tls) as node:
        expected = f"{where(node)}: {re.escape(after)}Connection closed by server"
        with pytest.raises(RedisUnreachable, match=expected) as caught:
            await connect_and(quick, node, "PING")
    assert caught.value.endpoint == str(node.endpoint)


async def test_half_a_reply_then_silence(tls: ServerFiles, quick: RedisAccess) -> None:
    truncated = Answer(b"$500\r\n# Server\r\nredis_version:7", HANG)
    async with fake_node({"INFO": truncated}, tls) as node:
        expected = f"{where(node)}: INFO: no reply within 1s"
        with pytest.raises(RedisUnreachable, match=expected):
            await connect_and(quick, node, "INFO")


async def test_closed_in_the_middle_of_a_reply(tls: ServerFiles, quick: RedisAccess) -> None:
    async with fake_node({"INFO": Answer(b"$500\r\n# Server\r\nredis_ver", CLOSE)}, tls) as node:
        expected = f"{where(node)}: INFO: connection lost"
        with pytest.raises(RedisUnreachable, match=expected):
            await connect_and(quick, node, "INFO")


async def test_accepts_but_never_starts_tls(tls: ServerFiles, quick: RedisAccess) -> None:
    async with fake_node({}, tls, handshake=False) as node:
        expected = f"{where(node)}: TCP/TLS connect timed out after 1s"
        with pytest.raises(RedisUnreachable, match=expected):
            await connect_and(quick, node, "PING")


async def test_never_answers_auth(tls: ServerFiles, quick: RedisAccess) -> None:
    async with fake_node({"AUTH": Answer(b"", HANG)}, tls) as node:
        expected = f"{where(node)}: TCP/TLS connect timed out after 1s"
        with pytest.raises(RedisUnreachable, match=expected):
            await connect_and(quick, node, "PING")


async def test_never_answers_a_command(tls: ServerFiles, quick: RedisAccess) -> None:
    async with fake_node({"ROLE": Answer(b"", HANG)}, tls) as node:
        with pytest.raises(RedisUnreachable, match=f"{where(node)}: ROLE: no reply within 1s"):
            await connect_and(quick, node, "ROLE")


async def test_wrong_reply_types_for_text_ping_and_role(
    tls: ServerFiles, quick: RedisAccess
) -> None:
    answers = {"INFO": Answer(integer(7)), "PING": Answer(bulk("PANG")), "ROLE": Answer(OK.data)}
    async with fake_node(answers, tls) as node, quick.connect("node-x", node.endpoint) as redis:
        with anyio.fail_after(BOUND):
            with pytest.raises(RedisReplyError, match=f"{where(node)}: INFO: unexpected reply 7"):
                await redis.info()
            with pytest.raises(RedisReplyError, match=f"{where(node)}: PING: unexpected reply"):
                await redis.ping()
            with pytest.raises(RedisReplyError, match=f"{where(node)}: ROLE: unexpected reply"):
                await redis.role()


# -- the fact reader: valid RESP, nonsense content --------------------------------------


NONSENSE = {
    "CLUSTER NODES lines that do not parse": (
        {"CLUSTER NODES": Answer(bulk("this is not\r\na cluster nodes reply\r\n"))},
        "CLUSTER NODES: unexpected reply",
    ),
    "CLUSTER NODES with a word for a port": (
        {"CLUSTER NODES": Answer(bulk(MYSELF.replace(":7000@", ":port@")))},
        "CLUSTER NODES: unexpected reply",
    ),
    "CLUSTER NODES without a myself line": (
        {"CLUSTER NODES": Answer(bulk(MYSELF.replace("myself,", "")))},
        "CLUSTER NODES: unexpected reply .* \\(not exactly one 'myself' line\\)",
    ),
    "CLUSTER MYID as a number": (
        {"CLUSTER MYID": Answer(integer(12))},
        "CLUSTER MYID: unexpected reply 12",
    ),
    "CLUSTER INFO as a list": (
        {"CLUSTER INFO": Answer(array(bulk("cluster_state:ok")))},
        "CLUSTER INFO: unexpected reply \\['cluster_state:ok'\\]",
    ),
    "ROLE master without its replica list": (
        {"ROLE": Answer(array(bulk("master")))},
        "ROLE: unexpected reply \\['master'\\]",
    ),
    "ROLE slave with a word for a port": (
        {"ROLE": Answer(array(*map(bulk, ("slave", "10.0.0.1", "port", "connected", "1"))))},
        "ROLE: unexpected reply \\['slave', '10.0.0.1', 'port'",
    ),
    "ROLE of an unknown kind": (
        {"ROLE": Answer(array(bulk("leader"), integer(1)))},
        "ROLE: unexpected reply \\['leader', 1\\] \\(unknown ROLE reply",
    ),
    "ROLE master with a number for its replicas": (
        {"ROLE": Answer(array(bulk("master"), integer(0), integer(3)))},
        "ROLE: unexpected reply \\['master', 0, 3\\]",
    ),
    "INFO as a number": ({"INFO": Answer(integer(1))}, "INFO: unexpected reply 1"),
}
CLUSTER_NODE = {
    "INFO": Answer(GOOD_INFO),
    "ROLE": Answer(MASTER_ROLE),
    "CLUSTER MYID": Answer(bulk("a" * 40)),
    "CLUSTER NODES": Answer(bulk(MYSELF + "\n")),
    "CLUSTER INFO": Answer(bulk("cluster_state:ok\r\ncluster_slots_ok:16384\r\n")),
    "CONFIG GET": Answer(array()),
}


async def test_a_well_formed_fake_cluster_node_reads(tls: ServerFiles, quick: RedisAccess) -> None:
    # the baseline the nonsense cases spoil one reply of
    async with fake_node(CLUSTER_NODE, tls) as node, quick.connect("node-x", node.endpoint) as r:
        facts = await read_facts(r, "node-x", cluster=True)
    assert facts.me.node_id == "a" * 40 and facts.cluster.ok and facts.role.kind == "primary"


@pytest.mark.parametrize("case", NONSENSE)
async def test_nonsense_replies_become_reply_errors(
    tls: ServerFiles, quick: RedisAccess, case: str
) -> None:
    spoiled, message = NONSENSE[case]
    async with (
        fake_node({**CLUSTER_NODE, **spoiled}, tls) as node,
        quick.connect("node-x", node.endpoint) as redis,
    ):
        with anyio.fail_after(BOUND), pytest.raises(RedisReplyError) as caught:
            await read_facts(redis, "node-x", cluster=True)
    assert re.match(f"{where(node)}: {message}", caught.value.message), caught.value.message
    assert caught.value.endpoint == str(node.endpoint) and caught.value.node == "node-x"


async def test_info_without_fields_is_read_as_empty(tls: ServerFiles, quick: RedisAccess) -> None:
    answers = {**CLUSTER_NODE, "INFO": Answer(bulk("# Server\r\n\r\nno fields here\r\n"))}
    async with fake_node(answers, tls) as node, quick.connect("node-x", node.endpoint) as r:
        facts = await read_facts(r, "node-x", cluster=True)
    assert facts.info == {} and facts.run_id == ""


BAD_PORT_MASTER = ("name", "shop", "ip", "h", "port", "x", "flags", "master", "quorum", "2")
BAD_PORT_MASTER += ("num-slaves", "1", "num-other-sentinels", "2")
SENTINEL = {
    "INFO": Answer(GOOD_INFO),
    "ROLE": Answer(array(bulk("sentinel"), array(bulk("shop")))),
}


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (integer(3), "unexpected reply 3"),
        (array(*map(bulk, ("name", "shop", "ip", "10.0.0.1"))), "\\(no flags, port, quorum"),
        (
            array(*map(bulk, BAD_PORT_MASTER)),
            "\\(invalid literal for int\\(\\) with base 10: 'x'\\)",
        ),
    ],
)
async def test_a_garbled_sentinel_master_reply(
    tls: ServerFiles, quick: RedisAccess, reply: bytes, message: str
) -> None:
    async with (
        fake_node({**SENTINEL, "SENTINEL MASTER": Answer(reply)}, tls) as node,
        quick.connect("node-x", node.endpoint) as redis,
    ):
        with anyio.fail_after(BOUND), pytest.raises(RedisReplyError) as caught:
            await read_facts(redis, "node-x", master_name="shop")
    assert re.search(f"{where(node)}: SENTINEL MASTER: .*{message}", caught.value.message)


# -- health and a bootstrap over such a node -------------------------------------------


def target(node: FakeNode, role: str = "primary") -> HealthTarget:
    return HealthTarget("node-x", node.endpoint, role)  # type: ignore[arg-type]


async def test_health_of_the_well_formed_fake_node_has_no_reply_problem(
    tls: ServerFiles, quick: RedisAccess
) -> None:
    # the baseline of the cases below: the fake node's answers are read, judged, reported
    async with fake_node(CLUSTER_NODE, tls) as node:
        report = await check_health(
            mode_for("cluster"), [target(node)], quick, stack="acme", node_timeout=2.0
        )
    (line,) = report.nodes
    assert line.reachable and line.auth_ok and line.role == "primary"
    assert not [p for p in report.problems if "unexpected reply" in p.message], report.problems


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({**CLUSTER_NODE, "INFO": Answer(GARBAGE)}, "CLUSTER INFO: a reply that is not Redis"),
        ({**CLUSTER_NODE, "ROLE": Answer(array(bulk("master")))}, "ROLE: unexpected reply"),
        ({**CLUSTER_NODE, "CLUSTER NODES": Answer(b"$90\r\nabc", HANG)}, "no reply within 1s"),
        ({**CLUSTER_NODE, "INFO": Answer(b"$90\r\nabc", CLOSE)}, "connection lost"),
    ],
)
async def test_health_reports_the_node_down_with_the_reason(
    tls: ServerFiles, quick: RedisAccess, answers: dict[str, Answer], message: str
) -> None:
    async with fake_node(answers, tls) as node:
        with anyio.fail_after(BOUND):
            report = await check_health(
                mode_for("cluster"), [target(node)], quick, stack="acme", node_timeout=2.0
            )
    assert report.status is Status.DOWN
    texts = [p.message for p in report.problems if p.node == "node-x"]
    assert any(f"node-x at {node.endpoint}" in t and message in t for t in texts), texts
    assert report.to_dict()["nodes"][0]["name"] == "node-x"


async def test_health_of_a_node_that_never_finishes_tls(
    tls: ServerFiles, quick: RedisAccess
) -> None:
    async with fake_node({}, tls, handshake=False) as node:
        with anyio.fail_after(BOUND):
            report = await check_health(
                mode_for("standalone"), [target(node)], quick, stack="acme", node_timeout=2.0
            )
    assert report.status is Status.DOWN
    texts = [p.message for p in report.problems]
    assert any(f"node-x at {node.endpoint}: TCP/TLS connect timed out" in t for t in texts), texts


async def test_standalone_bootstrap_refuses_a_garbled_role(
    tls: ServerFiles, quick: RedisAccess
) -> None:
    answers = {"PING": Answer(b"+PONG\r\n"), "ROLE": Answer(array(bulk("slave"), bulk("h")))}
    async with fake_node(answers, tls) as node:
        member = Member("node-x", node.endpoint)
        with anyio.fail_after(BOUND), pytest.raises(RedisError) as caught:
            await bootstrap_standalone(member, quick, ready_timeout=2.0)
    assert isinstance(caught.value, RedisReplyError)
    assert caught.value.message.startswith(f"node-x at {node.endpoint}: ROLE: unexpected reply")
