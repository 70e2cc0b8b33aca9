"""The stack lock's record (pure parts of engine/swarm/lock.py)."""

from __future__ import annotations

import base64
import json

from swarmredis.engine.swarm.lock import LockHolder, lock_body, lock_name


def test_a_holder_survives_its_labels() -> None:
    holder = LockHolder.mine("deploy", now=1_800_000_000.0, ttl=90)
    again = LockHolder.from_labels(holder.labels("acme"))
    assert again == holder
    assert again.expires == 1_800_000_090.0
    assert again.since == "2027-01-15T08:00:00+00:00"


def test_a_lock_is_stale_once_it_expired() -> None:
    holder = LockHolder.mine("rm", now=1000.0, ttl=90)
    assert not holder.stale(1089.0)
    assert holder.stale(1090.0)


def test_labels_that_are_missing_or_garbled_read_as_unknown_and_stale() -> None:
    holder = LockHolder.from_labels(
        {"io.swarmredis.lock.pid": "x", "io.swarmredis.lock.expires": "soon"}
    )
    assert (holder.owner, holder.pid, holder.expires) == ("?", 0, 0.0)
    assert holder.stale(1.0)


def test_the_lock_config_carries_none_of_the_stacks_own_labels() -> None:
    body = lock_body("acme", LockHolder.mine("deploy", now=1000.0))
    assert body["Name"] == lock_name("acme") == "swarmredis-lock-acme"
    assert not any(k.startswith("com.docker.stack") for k in body["Labels"])
    assert "io.swarmredis.managed" not in body["Labels"]
    assert "io.swarmredis.stack" not in body["Labels"]
    data = json.loads(base64.b64decode(body["Data"]))
    assert data["io.swarmredis.lock.operation"] == "deploy"
    assert data["stack"] == "acme"
