"""``users rotate``: a user's password replaced with no client or replica link dropped.

1. A new password is stored next to the previous one (``pki/passwords.py``).
2. Live, on every node that has the user: ``ACL SETUSER user #<new hash>``, so both
   passwords are accepted at once. For ``replication`` every data node's ``masterauth``
   follows (``CONFIG SET``; a replica's link is already authenticated, and a link made
   later uses the new one). For ``sentinel`` every Sentinel's ``auth-pass`` and
   ``sentinel-pass`` follow.
3. A deploy rolls the secrets out (``users.acl`` with both passwords, the auth files with
   the new one): node by node, failover first; a node that restarts keeps both.

``--finish`` removes the previous password live on every node (``ACL SETUSER user
!<old hash>``), forgets it in the store, and rolls ``users.acl`` out with the new one
alone. Every step can be run again: a killed run is resumed by the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import anyio

from swarmredis.engine.context import RunContext, admin_access
from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.engine.flows.deploy import DeployResult, check_deployable, deploy_held
from swarmredis.engine.flows.plan import DeployOptions, read_live
from swarmredis.engine.flows.status import stack_targets
from swarmredis.engine.redis.nodes import connect_all, fan_out
from swarmredis.engine.redis.verdict import HealthTarget
from swarmredis.engine.swarm.lock import stack_lock
from swarmredis.errors import PKIError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.gateway.redis import Credentials, RedisNode
from swarmredis.pki import acl, passwords
from swarmredis.pki.model import StackPKI
from swarmredis.pki.store import CertStore
from swarmredis.stackfile import Stack


@dataclass
class PasswordResult:
    """What one ``users rotate`` did."""

    stack: str
    user: str
    finished: bool  # --finish: the previous password is gone
    resumed: bool  # a rotation a killed run had started
    live: list[str] = field(default_factory=list)  # nodes changed live
    deploy: DeployResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "user": self.user,
            "finished": self.finished,
            "resumed": self.resumed,
            "live": self.live,
            "restarted": self.deploy.apply.updated if self.deploy else [],
        }


async def rotate_password(
    gateway: DockerGateway,
    stack: Stack,
    user: str,
    options: DeployOptions,
    *,
    finish: bool = False,
    stack_file: str = "STACKFILE",  # as the user typed it, for messages
    report: Reporter = silent,
) -> PasswordResult:
    """Rotate ``user``'s password (``finish``: end the rotation) on the live stack."""
    store = CertStore(options.certs_dir, stack.name, stack_file=stack_file)
    await check_deployable(gateway, stack, options)
    operation = "users rotate --finish" if finish else "users rotate"
    async with stack_lock(gateway, stack.name, operation, wait=options.lock_timeout, report=report):
        pki = (await read_live(gateway, stack, options)).pki
        _check_user(pki, user)
        targets = await stack_targets(gateway, stack.name)
        on_data = user in {u.name for u in pki.redis_users() if u.enabled}
        on_sentinels = user in {u.name for u in pki.sentinel_users() if u.enabled}
        where = [t for t in targets if (on_sentinels if t.role == "sentinel" else on_data)]
        thread = anyio.to_thread.run_sync
        if finish:
            previous = await thread(partial(passwords.password_to_retire, store, user))
            result = PasswordResult(stack.name, user, finished=True, resumed=False)
            access = await thread(lambda: admin_access(store, options.node_timeout))
            run = RunContext.create(access, concurrency=options.concurrency, report=report)
            result.live = await remove_password(run, where, user, previous)
            await thread(partial(passwords.finish_password_rotation, store, user))
        else:
            new, old, resumed = await thread(
                partial(passwords.start_password_rotation, store, user)
            )
            result = PasswordResult(stack.name, user, finished=False, resumed=resumed)
            access = await thread(lambda: admin_access(store, options.node_timeout))
            if user == acl.ADMIN:  # the nodes know only the old one until this step
                access = replace(access, credentials=Credentials(acl.ADMIN, old))
            run = RunContext.create(access, concurrency=options.concurrency, report=report)
            result.live = await add_password(run, where, user, new)
            await follow_password(run, targets, user, new, stack.name)
        report(Event("users", user, "done", f"live on {len(result.live)} node(s)"))
        result.deploy = await deploy_held(gateway, stack, options, report)
        return result


def _check_user(pki: StackPKI, user: str) -> None:
    known = pki.password_users()
    if user not in known:
        raise PKIError(
            f"no user {user!r} with a password in stack {pki.stack}",
            hint="users: " + ", ".join(known),
        )


async def add_password(
    run: RunContext, targets: Sequence[HealthTarget], user: str, password: str
) -> list[str]:
    """``password`` accepted for ``user`` on every target, beside the ones it has."""
    return await _acl(run, targets, user, "#" + acl.password_hash(password))


async def remove_password(
    run: RunContext, targets: Sequence[HealthTarget], user: str, password: str
) -> list[str]:
    """``password`` no longer accepted for ``user`` on any target."""
    return await _acl(run, targets, user, "!" + acl.password_hash(password))


async def _acl(
    run: RunContext, targets: Sequence[HealthTarget], user: str, change: str
) -> list[str]:
    """``ACL SETUSER user <change>`` on every target; the names changed. Adding a hash the
    user has is a no-op; removing one it lacks is an error, so that is checked first."""
    async with connect_all(targets, run.access, limiter=run.limiter) as nodes:

        async def one(name: str) -> str:
            node = nodes[name]
            if change.startswith("!"):
                entry = await node.execute("ACL", "GETUSER", user)
                if change[1:] not in _passwords_of(entry):
                    return name
            await node.execute("ACL", "SETUSER", user, change)
            what = "added" if change.startswith("#") else "removed"
            run.report(Event("users", name, "done", f"ACL SETUSER {user}: a password {what}"))
            return name

        return await fan_out(list(nodes), one, limiter=run.limiter, what="cannot change ACL")


def _passwords_of(entry: Any) -> list[str]:
    """The password hashes in an ``ACL GETUSER`` reply (a flat list or a map)."""
    if isinstance(entry, dict):
        return [str(p) for p in entry.get("passwords", [])]
    pairs = dict(zip(entry[::2], entry[1::2], strict=True)) if isinstance(entry, list) else {}
    return [str(p) for p in pairs.get("passwords", [])]


async def follow_password(
    run: RunContext, targets: Sequence[HealthTarget], user: str, new: str, master: str
) -> None:
    """What logs in as ``user`` by itself switches to the new password, live."""
    if user == acl.REPLICATION:
        data = [t for t in targets if t.role != "sentinel"]
        command: tuple[tuple[str, ...], ...] = (("CONFIG", "SET", "masterauth", new),)
        await _each(run, data, command, "masterauth")
    elif user == acl.SENTINEL:
        sentinels = [t for t in targets if t.role == "sentinel"]
        command = (
            ("SENTINEL", "SET", master, "auth-pass", new),
            ("SENTINEL", "CONFIG", "SET", "sentinel-pass", new),
        )
        await _each(run, sentinels, command, "auth-pass and sentinel-pass")


async def _each(
    run: RunContext,
    targets: Sequence[HealthTarget],
    commands: tuple[tuple[str, ...], ...],
    what: str,
) -> None:
    if not targets:
        return
    async with connect_all(targets, run.access, limiter=run.limiter) as nodes:

        async def one(name: str) -> None:
            node: RedisNode = nodes[name]
            for command in commands:
                await node.execute(*command)
            run.report(Event("users", name, "done", f"{what} switched to the new password"))

        await fan_out(list(nodes), one, limiter=run.limiter, what=f"cannot switch {what}")
