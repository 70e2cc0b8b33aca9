"""Security checks of a replication + Sentinel stack on the lab (issue 10).

Sentinels have their own port, their own ACL (the ``user`` lines of
sentinel-auth.conf) and their own config, so they get their own checks: TLS only, no
client without a certificate, ``default`` off, a stack user limited to discovery, and
the same container hardening as the Redis nodes (uid 999, no capabilities, read-only
root, secrets 0400).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.exceptions as rexc
from testkit.tls import redis_client

from .conftest import SwarmLab
from .helpers import DeployedStack, deployed_stack
from .probes import (
    assert_hardened,
    assert_listens_only_on,
    assert_secrets_0400,
    assert_tls_only,
    containers,
)

STACK = "itsecs"
BASE_PORT = 7960
PORT, SENTINEL_PORT = 6379, 26379
USER = "web"  # the stack user of stacks/replication.yaml
NOPERM_CMD = "this user has no permissions to run the '{}' command"


@pytest.fixture(scope="module")
def stack(swarm_lab: SwarmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DeployedStack]:
    tmp = tmp_path_factory.mktemp(STACK)
    with deployed_stack(swarm_lab, tmp, "replication", STACK, BASE_PORT) as d:
        yield d


def store(d: DeployedStack) -> Path:
    return d.certs / STACK


def sentinels(d: DeployedStack) -> dict[str, tuple[str, int]]:
    """Sentinel name -> its published (host address, port)."""
    return {
        alias.removeprefix(f"{STACK}-"): address
        for (alias, _), address in d.endpoints().items()
        if alias.startswith(f"{STACK}-sentinel-")
    }


def test_each_container_listens_only_on_its_tls_port(stack: DeployedStack) -> None:
    found = containers(STACK, stack.lab.size)
    assert sorted(found) == ["node-1", "node-2", "node-3", "sentinel-1", "sentinel-2", "sentinel-3"]
    for node, (k, cid) in found.items():
        port = SENTINEL_PORT if node.startswith("sentinel-") else PORT
        assert_listens_only_on(k, cid, {port})


def test_published_ports_of_nodes_and_sentinels_are_tls_only(stack: DeployedStack) -> None:
    addresses = stack.endpoints()
    assert len(addresses) == 6
    for address in addresses.values():
        assert_tls_only(address, store(stack), USER)


@pytest.mark.anyio
async def test_default_user_is_off_on_the_sentinels(stack: DeployedStack) -> None:
    for name, address in sentinels(stack).items():
        anonymous = redis_client(address, store(stack), None)
        try:
            with pytest.raises(rexc.AuthenticationError, match=r"^Authentication required\.$"):
                await anonymous.execute_command("SENTINEL", "MASTERS")
            with pytest.raises(
                rexc.AuthenticationError,
                match=r"^invalid username-password pair or user is disabled\.$",
            ):
                await anonymous.execute_command("AUTH", "default", "")
        finally:
            await anonymous.aclose()
        assert name.startswith("sentinel-")


@pytest.mark.anyio
async def test_stack_user_only_discovers_on_the_sentinels(stack: DeployedStack) -> None:
    found = sentinels(stack)
    assert sorted(found) == ["sentinel-1", "sentinel-2", "sentinel-3"]
    for address in found.values():
        web = redis_client(address, store(stack), USER)
        try:
            primary = await web.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", STACK)
            # (a sentinel has no CONFIG command at all: "unknown command", before the ACL)
            assert primary == [f"{STACK}-node-1".encode(), str(PORT).encode()]
            for command, denied in (
                (("SENTINEL", "SET", STACK, "quorum", "1"), "sentinel|set"),
                (("SENTINEL", "FAILOVER", STACK), "sentinel|failover"),
                (("SENTINEL", "RESET", "*"), "sentinel|reset"),
                (("SENTINEL", "REMOVE", STACK), "sentinel|remove"),
                (("SENTINEL", "CONFIG", "SET", "resolve-hostnames", "no"), "sentinel|config"),
                (("ACL", "SETUSER", USER, "+@all"), "acl|setuser"),
                (("SHUTDOWN",), "shutdown"),
            ):
                with pytest.raises(
                    rexc.NoPermissionError, match=f"^{re.escape(NOPERM_CMD.format(denied))}$"
                ):
                    await web.execute_command(*command)
        finally:
            await web.aclose()


def test_containers_are_hardened_and_secrets_0400(stack: DeployedStack) -> None:
    for node, (k, cid) in containers(STACK, stack.lab.size).items():
        assert_hardened(k, cid)
        tls = {"ca.crt", f"{node}.crt", f"{node}.key"}
        if node.startswith("sentinel-"):
            assert_secrets_0400(k, cid, tls | {"sentinel-auth.conf"})
        else:
            assert_secrets_0400(k, cid, tls | {"users.acl", "replication-auth.conf"})
