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
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from swarmredis.constants import DEFAULT_CONCURRENCY, NODE_TIMEOUT_S
from swarmredis.engine.context import client_access
from swarmredis.engine.flows.status import stack_view
from swarmredis.engine.modes.base import Mode
from swarmredis.engine.modes.registry import MODES
from swarmredis.engine.redis.health import probe_all
from swarmredis.engine.redis.metrics import Scrape, families
from swarmredis.engine.redis.verdict import HealthTarget, assess
from swarmredis.errors import SpecError, SwarmRedisError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.gateway.http import Response
from swarmredis.gateway.redis import Credentials, RedisAccess
from swarmredis.gateway.tls import TLSClientFiles
from swarmredis.pki import acl
from swarmredis.pki.manage import store_status
from swarmredis.pki.model import StackPKI
from swarmredis.pki.status import CertInfo, State
from swarmredis.pki.store import CertStore

NODE_SHARE = 0.6  # of the scrape timeout, for each node (the Swarm's reads come first)
DOCUMENT_HINT = (
    "the deploy writes it (metrics.enabled in the stack file): run `swarmredis deploy` again"
)


View = Callable[[], Awaitable[tuple[Mode, list[HealthTarget]]]]
Certificates = Callable[[datetime], Sequence[CertInfo]]


@dataclass
class Exporter:
    """Scrapes one stack (``access``: the monitor user's): ``view`` says what to probe (the
    Swarm asked on each scrape, or a targets document), ``certificates`` their expiry."""

    stack: str
    access: RedisAccess
    view: View
    certificates: Certificates
    scrape_timeout_s: float
    limiter: anyio.CapacityLimiter

    async def scrape(self) -> Scrape:
        """One scrape's input: the stack's view, every node probed, the certificates."""
        started = time.monotonic()
        with anyio.fail_after(self.scrape_timeout_s):
            mode, targets = await self.view()
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
        certificates = await anyio.to_thread.run_sync(lambda: self.certificates(now))
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
    """An exporter of the stack ``pki`` describes, scraping as the ``monitor`` user: each
    scrape asks the Swarm where the nodes run, and reads the store's certificates."""
    access = await anyio.to_thread.run_sync(lambda: client_access(store, acl.MONITOR))

    async def view() -> tuple[Mode, list[HealthTarget]]:
        return await stack_view(gateway, pki.stack)

    return Exporter(
        pki.stack,
        access,
        view,
        lambda now: store_status(store, pki, now=now),
        scrape_timeout_s,
        anyio.CapacityLimiter(DEFAULT_CONCURRENCY),
    )


def document_exporter(document: Mapping[str, Any]) -> Exporter:
    """An exporter of what a targets document (``plan.exporter.targets_document``) lists:
    no Swarm is asked, the certificates' expiry is the document's. Reads the credential
    files it names (call it in a worker thread); ``SpecError`` naming what is missing."""
    where = "the targets document"
    try:
        stack, mode_name = str(document["stack"]), str(document["mode"])
        creds = document["credentials"]
        files = TLSClientFiles(
            ca=Path(creds["ca"]), cert=Path(creds["cert"]), key=Path(creds["key"])
        )
        password = Path(creds["password"]).read_text().strip()
        username = str(creds["username"])
        targets = [
            HealthTarget(
                name=str(t["name"]),
                endpoint=RedisEndpoint(str(t["host"]), int(t["port"])),
                role=t["role"] if t["role"] in ("sentinel", "replica") else "primary",
                primary=t.get("primary"),
                server_name=t.get("server_name"),
            )
            for t in document["targets"]
        ]
        expiry = [
            (str(c["kind"]), str(c["name"]), c.get("not_after")) for c in document["certificates"]
        ]
        scrape_timeout = float(document["scrape_timeout"])
        mode = MODES[mode_name]
    except KeyError as error:
        raise SpecError(f"{where} has no {error.args[0]!r}", hint=DOCUMENT_HINT) from error
    except (TypeError, ValueError) as error:
        raise SpecError(
            f"{where} is not as the deploy writes it: {error}", hint=DOCUMENT_HINT
        ) from error
    except OSError as error:
        raise SpecError(f"{where}: {error}", hint=DOCUMENT_HINT) from error

    async def view() -> tuple[Mode, list[HealthTarget]]:
        return mode, targets

    def certificates(now: datetime) -> list[CertInfo]:
        out = []
        for kind, name, not_after in expiry:
            end = datetime.fromisoformat(not_after) if not_after else None
            state = State.MISSING if end is None else State.EXPIRED if end <= now else State.OK
            out.append(CertInfo(kind, name, "", state, not_after=end))  # type: ignore[arg-type]
        return out

    access = RedisAccess(files, Credentials(username, password), timeout=NODE_TIMEOUT_S)
    return Exporter(
        stack,
        access,
        view,
        certificates,
        scrape_timeout,
        anyio.CapacityLimiter(DEFAULT_CONCURRENCY),
    )
