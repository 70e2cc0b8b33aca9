"""The peers run the product's files: ``localize`` changes only the directives it lists,
appends only its three, and leaves every other generated line (users, passwords, TLS
switches, cluster and sentinel settings) as the plan wrote it."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmredis import labels
from swarmredis.pki.material import SENTINEL_AUTH
from swarmredis.pki.store import CertStore
from swarmredis.plan.redisconf import DATA_DIR, SECRETS_DIR
from swarmredis.stackfile import Stack, topology

from .product import (
    APPENDED,
    CLUSTER,
    LOCALIZED,
    LOOPBACK,
    REPLICATION,
    STANDALONE,
    Local,
    directive,
    generated_config,
    localize,
    stack_material,
)

NODES = [
    (stack, node.name) for stack in (STANDALONE, CLUSTER, REPLICATION) for node in topology(stack)
]


@pytest.mark.parametrize(("stack", "name"), NODES, ids=[f"{s.mode}-{n}" for s, n in NODES])
def test_localize_changes_only_what_it_lists(stack: Stack, name: str, store: CertStore) -> None:
    material = stack_material(store, stack)
    node = next(n for n in topology(stack) if n.name == name)
    peers = {labels.dns_alias(stack.name, n.name): 30000 + n.index for n in topology(stack)}
    local = Local(20000, Path("/x/data"), Path("/x/secrets"), Path("/x/redis.log"), peers)
    generated = generated_config(stack, node, material).splitlines()
    localized = localize("\n".join(generated), local, cluster=stack.mode == "cluster")
    lines = localized.splitlines()

    changed = {directive(a) for a, b in zip(generated, lines, strict=False) if a != b}
    assert changed <= LOCALIZED
    assert "tls-port" in changed and "dir" in changed
    appended = lines[len(generated) :]
    assert [directive(line) for line in appended] == [
        key for key in APPENDED if key != "cluster-node-timeout" or stack.mode == "cluster"
    ]
    assert f"tls-port {local.port}" in lines and f"bind {LOOPBACK}" in lines
    assert SECRETS_DIR not in localized and f" {DATA_DIR}" not in localized
    if node.kind == "sentinel":  # the users and passwords, exactly as the plan mounts them
        auth = material[SENTINEL_AUTH].decode().splitlines()
        assert lines[len(generated) - len(auth) : len(generated)] == auth
