"""The stack's metrics service (``metrics: {enabled: true}``): planned with the stack,
applied after the bootstrap, apart from the nodes (``plan.exporter``).

``plan_exporter`` reads what the exporter needs from the store (the CA bundle, the
``monitor`` user's certificate, key and password, every certificate's expiry) and compares
the exporter's objects with the Swarm's. ``apply_exporter`` creates the new secret and
config versions, creates or updates the service, waits until its task runs on a manager
(a task Docker rejects, e.g. an image the host lacks, is an error naming the task's
words), then removes the versions it no longer mounts. With metrics not enabled, it
removes whatever an earlier deploy made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import anyio

from swarmredis.engine.events import Event, Reporter
from swarmredis.engine.polling import Backoff
from swarmredis.engine.swarm.observe import swarm_nodes
from swarmredis.engine.swarm.remove import remove_when_released
from swarmredis.errors import ConvergenceError, PKIError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.pki import acl
from swarmredis.pki.manage import cert_pem, load_trust, store_status
from swarmredis.pki.model import StackPKI
from swarmredis.pki.store import CertStore
from swarmredis.plan.diff import Change
from swarmredis.plan.exporter import (
    LOGICAL,
    CertExpiry,
    exporter_changes,
    exporter_state,
    service_name,
)
from swarmredis.plan.objects import resolve_references
from swarmredis.plan.observe import ObservedObject
from swarmredis.plan.state import DesiredState
from swarmredis.plan.tasks import current, tasks_of

RUNNING_WITHIN_S = 60.0  # the exporter's task: from create/update to running
MISSING_HINT = "issue the monitor user's certificate: `swarmredis certs issue STACKFILE`"


@dataclass
class ExporterResult:
    """What the metrics step did, and where the service serves."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    url: str | None = None


async def plan_exporter(
    desired: DesiredState,
    store: CertStore,
    pki: StackPKI,
    observed: Sequence[ObservedObject],
    *,
    required: bool,
    network_ids: Mapping[str, str] | None = None,
) -> tuple[Change, ...]:
    """The exporter's changes; without the monitor user's material (a plan before the
    first deploy) the service shows pending, unless ``required`` (deploy: an error)."""
    stack = desired.stack
    if not stack.metrics.enabled:
        return exporter_changes(None, observed)
    try:
        material, expiry = await anyio.to_thread.run_sync(lambda: _inputs(store, pki))
    except PKIError:
        if required:
            raise
        name = service_name(stack)
        return (Change("service", name, LOGICAL, "pending", reason=MISSING_HINT),)
    want = exporter_state(desired, material, expiry)
    return exporter_changes(want, observed, network_ids)


def _inputs(store: CertStore, pki: StackPKI) -> tuple[dict[str, bytes], list[CertExpiry]]:
    """The exporter's secrets, and each certificate's expiry (reads files: a worker thread)."""
    material = {
        "metrics-ca.crt": cert_pem(load_trust(store).bundle()),
        "metrics-monitor.crt": store.read(store.client_cert(acl.MONITOR)),
        "metrics-monitor.key": store.read_secret(store.client_key(acl.MONITOR)),
        "metrics-monitor.password": store.read_password(acl.MONITOR).encode(),
    }
    expiry = [
        CertExpiry(c.kind, c.name, c.not_after.isoformat() if c.not_after else None)
        for c in store_status(store, pki, now=datetime.now(UTC))
    ]
    return material, expiry


async def apply_exporter(
    gateway: DockerGateway,
    changes: Sequence[Change],
    port: int,
    report: Reporter,
    within: float,
) -> ExporterResult:
    """Make the Swarm's exporter objects match ``changes`` (see the module doc); ``port``:
    where the service serves on its host (``metrics.port``)."""
    result = ExporterResult()
    ids = {c.name: c.id for c in changes if c.id}
    for change in changes:
        if change.action == "create" and change.kind in ("secret", "config"):
            assert change.desired is not None and change.desired.spec is not None
            ids[change.name] = await gateway.create(change.kind, dict(change.desired.spec))
            result.created.append(change.name)
    service = next((c for c in changes if c.kind == "service" and c.desired), None)
    before: set[str] = set()  # the tasks an update replaces: their state is not the new one's
    if service is not None and service.action == "update" and service.id:
        before = {t.id for t in tasks_of(await gateway.tasks([service.id]))}
    if service is not None and service.action in ("create", "update"):
        assert service.desired is not None and service.desired.spec is not None
        known = {name: ident for name, ident in ids.items() if ident}
        spec = resolve_references(service.desired.spec, known, known)
        report(Event("metrics", service.name, "start", f"{service.action} service"))
        if service.action == "create":
            ids[service.name] = await gateway.create("service", spec)
            result.created.append(service.name)
        else:
            assert service.id is not None
            current_spec = await gateway.inspect("service", service.id)
            version = int((current_spec.get("Version") or {}).get("Index", service.version or 0))
            await gateway.update_service(service.id, version, spec)
            result.updated.append(service.name)
    if service is not None and service.action != "pending":
        ident = ids.get(service.name)
        assert ident is not None
        result.url = await _running(gateway, service.name, ident, port, within, before)
        report(Event("metrics", service.name, "done", f"serving on {result.url}"))
    for change in changes:  # the service first (disabled), then what nothing mounts now
        if change.action == "remove":
            await remove_when_released(gateway, change.kind, change.id or change.name)
            result.removed.append(change.name)
            report(Event("metrics", change.name, "done", f"{change.kind} removed"))
    return result


async def _running(
    gateway: DockerGateway,
    name: str,
    service_id: str,
    port: int,
    within: float,
    before: set[str],
) -> str:
    """Wait until the service's current task (none of ``before``) runs and passes its
    health check; the metrics URL on its host."""
    backoff = Backoff()
    words = "no task yet"
    with anyio.move_on_after(min(within, RUNNING_WITHIN_S)):
        while True:
            tasks = [t for t in tasks_of(await gateway.tasks([service_id])) if t.id not in before]
            task = current(tasks)
            if task is not None and task.state == "running" and task.desired_state == "running":
                host = (await swarm_nodes(gateway)).get(task.node_id)
                return f"http://{host.addr if host else task.node_id}:{port}/metrics"
            if task is not None:
                words = f"{task.state}: {task.words}" if task.words else task.state
                if task.state in ("rejected", "failed"):
                    break
            await anyio.sleep(backoff.delay())
    raise ConvergenceError(
        f"{name}: the metrics service does not run ({words})",
        hint="metrics.image must exist on the managers and run `python3 -m swarmredis`"
        f" (docs/monitoring.md); `docker service ps --no-trunc {name}` shows more",
        service=name,
        task_error=words,
    )
