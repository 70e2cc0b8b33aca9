"""Security checks against a deployed cluster stack on the lab (issue 10).

One cluster stack (`itsecl`) with two application users is deployed for the module.
The checks read what an attacker on the network or in a container would meet:

- sockets: inside every container, /proc/net/tcp{,6} lists only the TLS port and the
  cluster bus; the bus speaks TLS; from the manager, TLS 1.2 and 1.3 handshakes with a
  client certificate succeed, TLS 1.0/1.1, plain text and a handshake without a client
  certificate are refused, each in its specific way;
- ACL: `default` is off; each stack user can do its work and gets NOPERM for admin,
  dangerous and out-of-pattern commands; `monitor` reads stats, never keys;
- containers: uid 999, no capabilities, read-only root, secrets 0400, the overlay not
  attachable.

Inside the containers only `sh` builtins are used (reading files with `read`), so the
checks hold for an image that has nothing but redis-server, redis-cli and sh.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.exceptions as rexc
import yaml
from testkit.tls import client_context, handshake_and_ping, redis_client

from .conftest import SwarmLab
from .helpers import DeployedStack, cli, cluster_client, deployed_stack
from .probes import (
    NOAUTH,
    assert_hardened,
    assert_listens_only_on,
    assert_secrets_0400,
    assert_tls_only,
    containers,
    docker,
    in_container,
)

STACK = "itsecl"
BASE_PORT = 7940
PORT, BUS = 6379, 16379
NAMESPACE = f"label=com.docker.stack.namespace={STACK}"
USERS = [
    {
        "name": "app",
        "keys": ["app:*"],
        "channels": ["app:*"],
        "commands": ["+@read", "+@write", "+@connection", "+@pubsub", "-@dangerous"],
    },
    # +@read without -@dangerous: KEYS is in @read, so only the product's denial stops it
    {"name": "reader", "keys": ["ro:*"], "channels": [], "commands": ["+@read", "+@connection"]},
]
NOPERM_CMD = "this user has no permissions to run the '{}' command"
NOPERM_KEY = "this user has no permissions to access one of the keys used as arguments"
NOPERM_CHANNEL = "this user has no permissions to access one of the channels used as arguments"


@pytest.fixture(scope="module")
def stack(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedStack]:
    tmp = tmp_path_factory.mktemp(STACK)
    with deployed_stack(swarm_lab, tmp, "cluster", STACK, BASE_PORT, acl={"users": USERS}) as d:
        yield d


def store(d: DeployedStack) -> Path:
    return d.certs / STACK


def nodes(d: DeployedStack) -> dict[str, tuple[int, str]]:
    found = containers(STACK, d.lab.size)
    assert sorted(found) == [f"node-{i}" for i in range(1, 7)], found
    return found


# ------------------------------------------------------------------ sockets


def test_only_the_tls_port_and_the_cluster_bus_listen_in_each_container(
    stack: DeployedStack,
) -> None:
    for k, cid in nodes(stack).values():
        assert_listens_only_on(k, cid, {PORT, BUS})


@pytest.mark.anyio
async def test_nothing_listens_in_plain_text_and_the_bus_speaks_tls(stack: DeployedStack) -> None:
    settings = {
        "port": "0",
        "tls-port": str(PORT),
        "tls-cluster": "yes",
        "tls-replication": "yes",
        "tls-auth-clients": "yes",
        "tls-protocols": "TLSv1.2 TLSv1.3",
    }
    for (alias, _), address in stack.endpoints().items():
        admin = redis_client(address, store(stack), "swarmredis-admin")
        try:
            for name, value in settings.items():
                assert await admin.config_get(name) == {name: value}, alias
        finally:
            await admin.aclose()
    # The bus is not published: dial it from inside a container with redis-cli. With TLS
    # and a node certificate the handshake completes and the bus then drops the RESP
    # bytes; a plain bus would fail the handshake ("SSL_connect failed", measured
    # against a redis-server with tls-cluster no).
    k, cid = nodes(stack)["node-1"]
    tls = "/run/secrets/ca.crt --cert /run/secrets/node-1.crt --key /run/secrets/node-1.key"
    script = (
        f"redis-cli --tls --cacert {tls} -h 127.0.0.1 -p {BUS} ping 2>&1; echo rc=$?; "
        f"redis-cli -h 127.0.0.1 -p {BUS} ping 2>&1; echo rc=$?"
    )
    assert in_container(k, cid, script).splitlines() == [
        "Error: Server closed the connection",
        "rc=1",
        "Error: Connection reset by peer",
        "rc=1",
    ]


def test_published_ports_are_tls_1_2_or_1_3_with_a_client_certificate_only(
    stack: DeployedStack,
) -> None:
    addresses = stack.endpoints()
    assert len(addresses) == 6
    for address in addresses.values():
        assert_tls_only(address, store(stack), "app")


# ------------------------------------------------------------------ ACL


def node_address(d: DeployedStack, node: str = "node-1") -> tuple[str, int]:
    return d.endpoints()[(f"{STACK}-{node}", PORT)]


def test_default_user_is_off(stack: DeployedStack) -> None:
    context = client_context(store(stack), "app")
    address = node_address(stack)
    # no AUTH: not even a read; AUTH as default: refused whatever the password
    assert handshake_and_ping(address, context, b"GET app:1\r\n") == ("TLSv1.3", NOAUTH)
    for password in ("", "nopass", "swarmredis"):
        reply = handshake_and_ping(address, context, f"AUTH default '{password}'\r\n".encode())
        assert reply == (
            "TLSv1.3",
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        )


def stack_users(d: DeployedStack) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = yaml.safe_load(d.stack_file.read_text())["acl"]["users"]
    return users


# What each stack user may do: (command..., expected reply), run by a cluster client.
ALLOWED: dict[str, list[tuple[tuple[str, ...], Any]]] = {
    "app": [
        (("SET", "app:1", "v"), True),
        (("GET", "app:1"), b"v"),
        (("PUBLISH", "app:news", "hi"), 0),
    ],
    "reader": [(("GET", "ro:1"), None), (("EXISTS", "ro:1"), 0)],
}


def denied(user: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(command, exact NOPERM message) a stack user must get on every node."""
    publish = NOPERM_CHANNEL if user["channels"] else NOPERM_CMD.format("publish")
    return [
        (("CONFIG", "SET", "maxmemory", "1"), NOPERM_CMD.format("config|set")),
        (("FLUSHALL",), NOPERM_CMD.format("flushall")),
        (("SHUTDOWN", "NOSAVE"), NOPERM_CMD.format("shutdown")),
        (("MODULE", "LIST"), NOPERM_CMD.format("module|list")),
        (("ACL", "SETUSER", user["name"], "+@all"), NOPERM_CMD.format("acl|setuser")),
        (("KEYS", "other:*"), NOPERM_CMD.format("keys")),
        (("SCAN", "0"), NOPERM_CMD.format("scan")),
        (("RANDOMKEY",), NOPERM_CMD.format("randomkey")),
        (("GET", "other:1"), NOPERM_KEY),
        (
            ("SET", "other:1", "x"),
            NOPERM_KEY if "+@write" in user["commands"] else NOPERM_CMD.format("set"),
        ),
        (("PUBLISH", "other:news", "hi"), publish),
    ]


@pytest.mark.anyio
async def test_each_stack_user_does_its_work_and_nothing_else(stack: DeployedStack) -> None:
    users = stack_users(stack)
    assert sorted(u["name"] for u in users) == sorted(ALLOWED)  # a new user needs its rows
    for user in users:
        client = await cluster_client(STACK, stack.certs, stack.lab.docker_host, user["name"])
        try:
            for command, reply in ALLOWED[user["name"]]:
                assert await client.execute_command(*command) == reply, (user["name"], command)
        finally:
            await client.aclose()
        for address in stack.endpoints().values():
            node = redis_client(address, store(stack), user["name"])
            try:
                for command, message in denied(user):
                    with pytest.raises(rexc.NoPermissionError, match=f"^{re.escape(message)}$"):
                        await node.execute_command(*command)
            finally:
                await node.aclose()


@pytest.mark.anyio
async def test_debug_is_refused_before_and_by_the_acl(stack: DeployedStack) -> None:
    address = node_address(stack)
    for user in stack_users(stack):
        node = redis_client(address, store(stack), user["name"])
        try:
            # enable-debug-command no (the default) refuses DEBUG for everyone first
            with pytest.raises(rexc.ResponseError, match=r"^DEBUG command not allowed\."):
                await node.execute_command("DEBUG", "SLEEP", "0")
        finally:
            await node.aclose()
        admin = redis_client(address, store(stack), "swarmredis-admin")
        try:
            verdict = await admin.execute_command(
                "ACL", "DRYRUN", user["name"], "DEBUG", "SLEEP", "0"
            )
        finally:
            await admin.aclose()
        assert verdict == b"This user has no permissions to run the 'debug' command"


@pytest.mark.anyio
async def test_monitor_reads_stats_and_no_key(stack: DeployedStack) -> None:
    for address in stack.endpoints().values():
        monitor = redis_client(address, store(stack), "monitor")
        try:
            assert await monitor.ping() is True
            assert (await monitor.info("server"))["redis_mode"] == "cluster"
            assert (await monitor.execute_command("CLUSTER", "INFO")).startswith(
                b"cluster_state:ok"
            )
            for command, message in (
                (("GET", "app:1"), NOPERM_CMD.format("get")),
                (("GET", "ro:1"), NOPERM_CMD.format("get")),
                (("CONFIG", "GET", "masterauth"), NOPERM_CMD.format("config|get")),
                (("SLOWLOG", "GET"), NOPERM_CMD.format("slowlog|get")),
                (("SCAN", "0"), NOPERM_CMD.format("scan")),
            ):
                with pytest.raises(rexc.NoPermissionError, match=f"^{re.escape(message)}$"):
                    await monitor.execute_command(*command)
        finally:
            await monitor.aclose()


# ------------------------------------------------------------------ containers


def test_containers_run_as_999_without_capabilities_on_a_read_only_root(
    stack: DeployedStack,
) -> None:
    for k, cid in nodes(stack).values():
        assert_hardened(k, cid)


def test_secrets_are_mounted_0400_for_uid_999(stack: DeployedStack) -> None:
    for node, (k, cid) in nodes(stack).items():
        tls = {"ca.crt", f"{node}.crt", f"{node}.key"}
        assert_secrets_0400(k, cid, tls | {"users.acl", "replication-auth.conf"})
    services = json.loads(docker(1, "service", "inspect", f"{STACK}_node-1").stdout)
    mounts = services[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    files = {(m["File"]["UID"], m["File"]["GID"], m["File"]["Mode"]) for m in mounts}
    assert files == {("999", "999", 0o400)}


def test_the_overlay_is_not_attachable(stack: DeployedStack) -> None:
    [network] = json.loads(docker(1, "network", "inspect", f"{STACK}_net").stdout)
    assert (network["Attachable"], network["Driver"], network["Scope"]) == (
        False,
        "overlay",
        "swarm",
    )
    joined = docker(
        1, "run", "--rm", "--network", f"{STACK}_net", "redis:7.0", "sh", "-c", "true", check=False
    )
    assert joined.returncode == 125
    assert f"network {STACK}_net not manually attachable" in joined.stderr


def test_asking_for_an_attachable_overlay_later_is_refused_and_changes_nothing(
    stack: DeployedStack, tmp_path: Path
) -> None:
    data = yaml.safe_load(stack.stack_file.read_text())
    data["network"]["attachable"] = True
    opened = tmp_path / f"{STACK}.yaml"
    opened.write_text(yaml.safe_dump(data))

    def versions() -> str:
        ids = docker(1, "service", "ls", "-q", "--filter", NAMESPACE).stdout.split()
        assert len(ids) == 6
        return docker(1, "service", "inspect", "--format", "{{.Version.Index}}", *ids).stdout

    before = versions()
    done = cli(
        "deploy", str(opened), "--certs-dir", str(stack.certs), docker_host=stack.lab.docker_host
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        f"network {STACK}_net must be recreated (network.attachable changed; Docker cannot"
        " change a network in place) but services use it:" in done.stderr
    )
    assert "set network.attachable: false to keep the network as it is" in done.stderr
    [network] = json.loads(docker(1, "network", "inspect", f"{STACK}_net").stdout)
    assert network["Attachable"] is False
    assert versions() == before  # no service was touched
