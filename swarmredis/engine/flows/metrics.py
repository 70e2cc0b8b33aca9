"""``metrics``: a running stack's metrics for Prometheus, one health check per scrape.

Each scrape reads the stack from the Swarm (services, tasks, nodes: where each node runs
and how to reach it), probes every node and Sentinel concurrently as the ``monitor``
user (INFO, ROLE, the cluster's or the Sentinel's view: no keys, no CONFIG), judges
the answers with the mode's rules (the verdict `status` gives), and reads the expiry
of the store's certificates. Each node has a share of the scrape timeout: one that does
not answer within it is ``swarmredis_node_up 0``; the scrape still answers in time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from swarmredis.constants import DEFAULT_CONCURRENCY
from swarmredis.engine.context import client_access
from swarmredis.engine.flows.status import stack_view
from swarmredis.engine.redis.health import probe_all
from swarmredis.engine.redis.metrics import Scrape, families
from swarmredis.engine.redis.verdict import assess
from swarmredis.errors import SwarmRedisError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.gateway.http import Response
from swarmredis.gateway.redis import RedisAccess
from swarmredis.pki import acl
from swarmredis.pki.manage import store_status
from swarmredis.pki.model import StackPKI
from swarmredis.pki.store import CertStore

NODE_SHARE = 0.6  # of the scrape timeout, for each node (the Swarm's reads come first)


@dataclass
class Exporter:
    """Scrapes one stack (``access``: the monitor user's)."""

    gateway: DockerGateway
    stack: str
    access: RedisAccess
    store: CertStore
    pki: StackPKI
    scrape_timeout_s: float
    limiter: anyio.CapacityLimiter

    async def scrape(self) -> Scrape:
        """One scrape's input: the Swarm's view, every node probed, the certificates."""
        started = time.monotonic()
        with anyio.fail_after(self.scrape_timeout_s):
            mode, targets = await stack_view(self.gateway, self.stack)
            probes = await probe_all(
                mode,
                targets,
                self.access,
                master_name=self.stack,
                node_timeout=self.scrape_timeout_s * NODE_SHARE,
                limiter=self.limiter,
                settings=False,
            )
        report = assess(mode, probes)
        report.stack = self.stack
        now = datetime.now(UTC)
        certificates = await anyio.to_thread.run_sync(
            lambda: store_status(self.store, self.pki, now=now)
        )
        return Scrape(self.stack, report, probes, certificates, now, time.monotonic() - started)

    async def exposition(self) -> bytes:
        """The scrape in Prometheus's text format."""
        return render(await self.scrape())

    async def handle(self, path: str) -> Response:
        """The HTTP endpoint: ``/metrics``; anything else is 404."""
        if path != "/metrics":
            return Response(404, "text/plain", b"metrics are at /metrics\n")
        try:
            return Response(200, CONTENT_TYPE_LATEST, await self.exposition())
        except TimeoutError:  # the Swarm's reads took the whole scrape timeout
            why = f"no answer from the Swarm within {self.scrape_timeout_s:g}s\n"
            return Response(503, "text/plain", why.encode())
        except SwarmRedisError as error:  # e.g. the stack is gone, Docker unreachable
            return Response(503, "text/plain", f"{error.message}\n".encode())


class _Fixed(Collector):
    def __init__(self, scrape: Scrape) -> None:
        self._families = families(scrape)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def render(scrape: Scrape) -> bytes:
    """Prometheus's text format of one scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(scrape))
    return generate_latest(registry)


async def open_exporter(
    gateway: DockerGateway, store: CertStore, pki: StackPKI, scrape_timeout_s: float
) -> Exporter:
    """An exporter of the stack ``pki`` describes, scraping as the ``monitor`` user."""
    access = await anyio.to_thread.run_sync(lambda: client_access(store, acl.MONITOR))
    return Exporter(
        gateway,
        pki.stack,
        access,
        store,
        pki,
        scrape_timeout_s,
        anyio.CapacityLimiter(DEFAULT_CONCURRENCY),
    )
