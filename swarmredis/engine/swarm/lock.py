"""A stack's lock, held in the Swarm itself: one operation that changes a stack at a time.

The lock is a Swarm config named ``swarmredis-lock-<stack>``: creating an object whose
name exists fails on the manager (409), which makes ``create`` a test-and-set that every
host running swarmredis against the same Swarm sees. Its labels say who holds it (owner,
host, pid, operation, since) and until when (``expires``, Unix seconds). The holder
renews the expiry every third of ``LOCK_TTL_S`` (a config's labels are the one field
that can be updated); a holder that died stops renewing, and once ``expires`` has passed
the next operation breaks the lock, saying so. A holder in this very pid namespace (same
machine, same boot, same container or none) whose process no longer runs (killed, e.g.
SIGKILL or an OOM kill) is stale at once: no operator wants to wait out the TTL for a pid
that ``ps`` shows is gone. The namespace, not the host name, decides: two CI containers
on two machines may share a host name, and a pid means nothing outside its namespace.
Released (removed) at the end, whatever happened, and only if it is still ours.

The config carries none of the stack's own labels: ``deploy --prune`` and ``rm`` never
see it as one of the stack's objects.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.engine.polling import Backoff
from swarmredis.errors import DockerError, LockHeld, ObjectNotFound
from swarmredis.gateway.docker import DockerGateway

LOCK_TTL_S = 90.0  # a lock nobody renewed for this long is stale
PREFIX = "io.swarmredis.lock"  # labels: PREFIX (the stack), PREFIX.owner, ...
FIELDS = ("owner", "token", "host", "pid", "operation", "since", "expires", "pidns")


def lock_name(stack: str) -> str:
    return f"swarmredis-lock-{stack}"


def pid_namespace() -> str:
    """This process's pid namespace on this boot of this machine ("" if unknown): a pid
    names the same process only for processes that share it."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}/{namespace}"


def process_running(pid: int) -> bool:
    """Whether process ``pid`` runs on this host; a zombie (killed, not yet reaped by its
    parent) does not. A process of another user counts as running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: state is the field after "(comm)"
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] != ["Z"]


@dataclass(frozen=True)
class LockHolder:
    """Who holds a stack's lock, as its labels say (pure)."""

    owner: str  # user@host
    token: str  # unique per run: tells our lock from another run's
    host: str
    pid: int
    operation: str  # deploy, rm, ...
    since: str  # ISO 8601, UTC
    expires: float  # Unix seconds
    pidns: str = ""  # pid_namespace() of the holder ("": unknown)

    @classmethod
    def mine(cls, operation: str, now: float, ttl: float = LOCK_TTL_S) -> LockHolder:
        host = socket.gethostname()
        return cls(
            owner=f"{getpass.getuser()}@{host}",
            token=uuid.uuid4().hex,
            host=host,
            pid=os.getpid(),
            operation=operation,
            since=datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            expires=now + ttl,
            pidns=pid_namespace(),
        )

    def labels(self, stack: str) -> dict[str, str]:
        values = {f: str(getattr(self, f)) for f in FIELDS}
        values["expires"] = f"{self.expires:.0f}"
        return {PREFIX: stack, **{f"{PREFIX}.{f}": v for f, v in values.items()}}

    @classmethod
    def from_labels(cls, found: Mapping[str, str]) -> LockHolder:
        """The holder a lock config's labels name; missing fields read as unknown."""

        def get(field: str, default: str = "?") -> str:
            return str(found.get(f"{PREFIX}.{field}", default))

        pid, expires = get("pid", "0"), get("expires", "0")
        return cls(
            owner=get("owner"),
            token=get("token"),
            host=get("host"),
            pid=int(pid) if pid.isdigit() else 0,
            operation=get("operation"),
            since=get("since"),
            expires=float(expires) if expires.replace(".", "", 1).isdigit() else 0.0,
            pidns=get("pidns", ""),
        )

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> LockHolder:
        """The holder a lock config (as the API returns it) names."""
        return cls.from_labels((config.get("Spec") or {}).get("Labels") or {})

    def stale(self, now: float) -> bool:
        return now >= self.expires

    def stale_reason(self, now: float, here: str, running: Callable[[int], bool]) -> str | None:
        """Why the lock is stale (None: it is not): expired, or held by a process of
        our pid namespace ``here`` that ``running`` says is gone."""
        if self.stale(now):
            return f"expired {self.expiry()}"
        if here and self.pidns == here and self.pid > 0 and not running(self.pid):
            return f"pid {self.pid} no longer runs on this host ({self.host})"
        return None

    def describe(self) -> str:
        return f"{self.operation} by {self.owner} (pid {self.pid}) since {self.since}"

    def expiry(self) -> str:
        return datetime.fromtimestamp(self.expires, UTC).isoformat(timespec="seconds")


@dataclass
class HeldLock:
    """The lock we hold, and the Docker requests it took so far (by HTTP method): the
    lock's own bookkeeping, which a caller keeps apart from the changes it made."""

    stack: str
    holder: LockHolder
    calls: Counter[str] = field(default_factory=Counter)


class _Requests:
    """The lock's Docker requests, counted."""

    def __init__(self, gateway: DockerGateway, calls: Counter[str]) -> None:
        self.gateway, self.calls = gateway, calls

    async def create(self, body: dict[str, Any]) -> None:
        self.calls["POST"] += 1
        await self.gateway.create("config", body)

    async def inspect(self, name: str) -> dict[str, Any]:
        self.calls["GET"] += 1
        return await self.gateway.inspect("config", name)

    async def remove(self, ident: str) -> None:
        self.calls["DELETE"] += 1
        await self.gateway.remove("config", ident)

    async def update(self, ident: str, version: int, spec: dict[str, Any]) -> None:
        self.calls["POST"] += 1
        await self.gateway.update_config(ident, version, spec)


def lock_body(stack: str, holder: LockHolder) -> dict[str, Any]:
    """The API body of the config that is the lock."""
    data = json.dumps({"stack": stack, **holder.labels(stack)}, sort_keys=True).encode()
    return {
        "Name": lock_name(stack),
        "Labels": holder.labels(stack),
        "Data": base64.b64encode(data).decode(),
    }


@asynccontextmanager
async def stack_lock(
    gateway: DockerGateway,
    stack: str,
    operation: str,
    *,
    wait: float,
    report: Reporter = silent,
    clock: Callable[[], float] = time.time,
    ttl: float = LOCK_TTL_S,
) -> AsyncIterator[HeldLock]:
    """Hold ``stack``'s lock for the block: wait up to ``wait`` seconds for another
    operation's lock, break a stale one, renew ours while the block runs, release it.

    Raises ``LockHeld`` (naming the holder) if it is still held after ``wait``."""
    calls: Counter[str] = Counter()
    requests = _Requests(gateway, calls)
    holder = await _acquire(requests, stack, operation, wait, report, clock, ttl)
    lock = HeldLock(stack, holder, calls)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_renew, requests, stack, lock.holder, clock, ttl)
            try:
                yield lock
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await _release(requests, stack, lock.holder)


async def _acquire(
    requests: _Requests,
    stack: str,
    operation: str,
    wait: float,
    report: Reporter,
    clock: Callable[[], float],
    ttl: float,
) -> LockHolder:
    backoff = Backoff(first=0.1, cap=1.0)
    deadline = anyio.current_time() + wait
    said_waiting = False
    while True:
        mine = LockHolder.mine(operation, clock(), ttl)
        try:
            await requests.create(lock_body(stack, mine))
            return mine
        except DockerError as error:
            if error.status != 409:
                raise
        try:
            found = await requests.inspect(lock_name(stack))
        except ObjectNotFound:
            continue  # released meanwhile: try again at once
        holder = LockHolder.of(found)
        reason = holder.stale_reason(clock(), pid_namespace(), process_running)
        if reason is not None:
            message = f"breaking a stale lock: {holder.describe()}, {reason}"
            report(Event("lock", stack, "info", message))
            await requests.remove(str(found["ID"]))
            continue
        if anyio.current_time() >= deadline:
            raise LockHeld(
                f"another operation holds stack {stack} since {holder.since} "
                f"(owner {holder.owner}, host {holder.host}, pid {holder.pid}, "
                f"{holder.operation})",
                hint=(
                    f"wait for it to finish, or pass --lock-timeout SECONDS to wait; "
                    f"if it died on another host, its lock expires at {holder.expiry()} "
                    f"(or remove the config {lock_name(stack)})"
                ),
                stack=stack,
                holder=holder.owner,
                operation=holder.operation,
                since=holder.since,
            )
        if not said_waiting:
            report(Event("lock", stack, "start", f"waiting for {holder.describe()}"))
            said_waiting = True
        await anyio.sleep(min(backoff.delay(), max(0.0, deadline - anyio.current_time())))


async def _renew(
    requests: _Requests,
    stack: str,
    mine: LockHolder,
    clock: Callable[[], float],
    ttl: float,
) -> None:
    """Push our lock's expiry forward every ``ttl / 3`` seconds while we hold it."""
    while True:
        await anyio.sleep(ttl / 3)
        found = await requests.inspect(lock_name(stack))
        if LockHolder.of(found).token != mine.token:
            return  # broken by someone who judged it stale: nothing of ours to renew
        spec = dict(found.get("Spec") or {})
        spec["Labels"] = replace(mine, expires=clock() + ttl).labels(stack)
        await requests.update(str(found["ID"]), int(found["Version"]["Index"]), spec)


async def _release(requests: _Requests, stack: str, mine: LockHolder) -> None:
    try:
        found = await requests.inspect(lock_name(stack))
    except ObjectNotFound:
        return
    if LockHolder.of(found).token == mine.token:
        await requests.remove(str(found["ID"]))
