"""A password rotated live on real local servers (`users rotate`'s live steps): both
passwords work at once, the replicas' links and the Sentinels follow the new one and
survive a reconnect, and the finished rotation refuses the old one."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import anyio
import pytest
from testkit import eventually

from swarmredis.engine.context import RunContext, admin_access
from swarmredis.engine.flows.users import add_password, follow_password, remove_password
from swarmredis.engine.modes.replication.bootstrap import bootstrap_replication
from swarmredis.engine.redis.verdict import HealthTarget
from swarmredis.errors import RedisAuthError
from swarmredis.gateway.redis import Credentials, RedisAccess
from swarmredis.pki import acl, passwords
from swarmredis.pki.store import CertStore

from .product import MASTER_NAME
from .servers import Lab
from .test_replication import start, targets

pytestmark = pytest.mark.anyio


async def logs_in(access: RedisAccess, target: HealthTarget, user: str, password: str) -> bool:
    as_user = replace(access, credentials=Credentials(user, password))
    try:
        async with as_user.connect(target.name, target.endpoint) as node:
            await node.execute("PING")
    except RedisAuthError:
        return False
    return True


async def logged_in_since(
    access: RedisAccess, target: HealthTarget, user: str, seconds: float, count: int
) -> bool:
    """Whether ``target`` has at least ``count`` connections of ``user`` made in the last
    ``seconds`` (made after a kill, they logged in with the password valid then)."""
    async with access.connect(target.name, target.endpoint) as node:
        listed = str(await node.execute("CLIENT", "LIST"))
    fresh = [
        line
        for line in listed.splitlines()
        if f" user={user} " in f" {line} " and float(line.split(" age=")[1].split()[0]) <= seconds
    ]
    return len(fresh) >= count


async def kill(access: RedisAccess, target: HealthTarget, *types: str) -> float:
    """Close ``target``'s clients of ``types`` (their owners log in again); the moment."""
    async with access.connect(target.name, target.endpoint) as node:
        for kind in types:
            await node.execute("CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes")
    return anyio.current_time()


def since(moment: float) -> float:
    return anyio.current_time() - moment + 1


async def test_passwords_rotated_live_work_side_by_side_and_the_old_stops_at_the_end(
    lab: Lab, access: RedisAccess, store: CertStore
) -> None:
    primary, replicas, sentinels = start(lab)
    await bootstrap_replication(
        primary, replicas, sentinels, access, master_name=MASTER_NAME, wait_timeout=30
    )
    every = targets(primary, replicas, sentinels)
    data = [t for t in every if t.role != "sentinel"]
    sentinel_side = [t for t in every if t.role == "sentinel"]
    run = RunContext.create(access)

    # a stack user, on data nodes and Sentinels: both passwords at once, then the new alone
    old, new = store.read_password("app"), acl.new_password()
    changed = await add_password(run, every, "app", new)
    assert sorted(changed) == sorted(t.name for t in every)
    for target in every:
        assert await logs_in(access, target, "app", old), target.name
        assert await logs_in(access, target, "app", new), target.name
    await remove_password(run, every, "app", old)
    await remove_password(run, every, "app", old)  # again
    for target in every:
        assert not await logs_in(access, target, "app", old), target.name
        assert await logs_in(access, target, "app", new), target.name

    # replication: masterauth follows; the links survive a reconnect with the old removed
    old_r, new_r = store.read_password(acl.REPLICATION), acl.new_password()
    await add_password(run, data, acl.REPLICATION, new_r)
    await follow_password(run, every, acl.REPLICATION, new_r, MASTER_NAME)
    await remove_password(run, data, acl.REPLICATION, old_r)
    (main,) = [t for t in data if t.role == "primary"]
    killed = await kill(access, main, "replica")
    await eventually(
        lambda: logged_in_since(access, main, acl.REPLICATION, since(killed), 2),
        20,
        "both replicas linked again with the new password",
    )

    # sentinel: auth-pass and sentinel-pass follow; reconnects use the new password
    old_s, new_s = store.read_password(acl.SENTINEL), acl.new_password()
    await add_password(run, every, acl.SENTINEL, new_s)
    await follow_password(run, every, acl.SENTINEL, new_s, MASTER_NAME)
    await remove_password(run, every, acl.SENTINEL, old_s)
    # each Sentinel keeps a command and a pub/sub link to the primary, and to each other
    killed = await kill(access, main, "normal", "pubsub")
    await eventually(
        lambda: logged_in_since(access, main, acl.SENTINEL, since(killed), 6),
        30,
        "every Sentinel linked to the primary again with the new password",
    )
    killed = await kill(access, sentinel_side[0], "normal", "pubsub")
    await eventually(
        lambda: logged_in_since(access, sentinel_side[0], acl.SENTINEL, since(killed), 2),
        30,
        "the other Sentinels linked to sentinel-1 again with the new password",
    )


async def test_a_stopped_admin_rotation_does_not_lock_the_engine_out(
    lab: Lab, store: CertStore, tmp_path: Path
) -> None:
    """`users rotate swarmredis-admin` stopped after it stored the new password and before
    it added it live: the nodes know only the previous one. The engine's access of that
    store logs in with the previous password (it had WRONGPASS with the new one until the
    rotation was run again)."""
    primary, _, _ = start(lab)
    copy = CertStore(tmp_path, store.stack)
    shutil.copytree(store.root, copy.root)
    new, old, _ = passwords.start_password_rotation(copy, acl.ADMIN)
    assert new != old and copy.read_password(acl.ADMIN) == new
    access = admin_access(copy)
    assert access.credentials.previous == old
    async with access.connect(primary.name, primary.endpoint) as node:
        assert await node.execute("ACL", "WHOAMI") == acl.ADMIN
    alone = replace(access, credentials=Credentials(acl.ADMIN, new))
    with pytest.raises(RedisAuthError):
        async with alone.connect(primary.name, primary.endpoint):
            pass
