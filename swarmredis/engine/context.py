"""What one command's run carries through every step: how to reach the nodes (and how long
each may take to answer: ``access.timeout``), the fan-out bound, who hears the events, and
how long each step took."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio

from swarmredis.constants import DEFAULT_CONCURRENCY, NODE_TIMEOUT_S
from swarmredis.engine.events import Reporter, silent
from swarmredis.gateway.redis import Credentials, RedisAccess, TLSClientFiles
from swarmredis.pki import acl, passwords
from swarmredis.pki.material import load_client_credentials
from swarmredis.pki.store import CertStore
from swarmredis.plan.tasks import Placed

# Where each service's task runs now, read again from Swarm: a task that failed to start
# after converge took it is replaced, with a new overlay address (deploy sets it).
PlacementReader = Callable[[], Awaitable[Mapping[str, Placed]]]


@dataclass
class RunContext:
    """One run's shared means. The limiter bounds every fan-out of the run: fan-outs
    follow one another and never nest, so one limiter cannot deadlock."""

    access: RedisAccess
    limiter: anyio.CapacityLimiter
    report: Reporter = silent
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds, summed
    placement: PlacementReader | None = None

    @classmethod
    def create(
        cls,
        access: RedisAccess,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        report: Reporter = silent,
    ) -> RunContext:
        """A context with a fresh limiter of ``concurrency``."""
        return cls(access, anyio.CapacityLimiter(concurrency), report)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add the wall time of the block to ``timings[step]``."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.monotonic() - start


def admin_access(store: CertStore, timeout: float = NODE_TIMEOUT_S) -> RedisAccess:
    """How the engine logs in to every node: the admin client certificate and password
    (reads files: call it in a worker thread)."""
    return client_access(store, acl.ADMIN, timeout)


def client_access(store: CertStore, user: str, timeout: float = NODE_TIMEOUT_S) -> RedisAccess:
    """How ``user`` logs in to every node (reads files: call it in a worker thread)."""
    creds = load_client_credentials(store, user)
    # while a rotation of its password runs, a node may know only the previous one
    previous = passwords.previous_password(store, user)
    return RedisAccess(
        TLSClientFiles(ca=creds.ca_path, cert=creds.cert_path, key=creds.key_path),
        Credentials(creds.username, creds.password, previous),
        timeout=timeout,
    )
