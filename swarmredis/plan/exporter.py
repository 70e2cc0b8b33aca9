"""The stack's metrics exporter as a Swarm service (``metrics: {enabled: true}``), pure.

One replicated service, ``<stack>_metrics``, on a manager: ``python3 -m swarmredis exporter
TARGETS`` in the stack file's ``metrics.image`` serves ``/metrics`` on ``metrics.port`` of
that host (published in host mode: no routing mesh, no IPVS). It holds no Docker socket:
what it scrapes is in a Swarm config, the targets document, rendered here from the desired
state (every Redis node and Sentinel that stays, as the exporter dials it on the overlay,
or by host address on the host network; each certificate's expiry, read from the store
by the deploy). It logs in as the ``monitor`` user, whose client certificate, key and
password, and the CA bundle, are secrets of its own.

Every object of the exporter carries ``io.swarmredis.part: metrics``: the deploy plans
and applies them apart from the nodes' (``engine.flows.exporter``), after the stack is
healthy, so nothing that reads the stack's nodes (placement, status, the rolling guard,
scaling) ever sees them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swarmredis import labels
from swarmredis.plan.diff import Action, Change, changed_paths, with_network_names
from swarmredis.plan.objects import DesiredObject, data_object, finish, object_labels
from swarmredis.plan.observe import ObservedObject
from swarmredis.plan.services import DNS_OPTIONS, SECOND
from swarmredis.plan.state import DesiredState
from swarmredis.stackfile.model import Stack

PART = "metrics"
LOGICAL = "metrics"  # the service's logical name; Swarm's is <stack>_metrics
TARGETS_LOGICAL = "metrics-targets.json"
TARGETS_PATH = "/etc/swarmredis/targets.json"
SECRETS_DIR = "/run/secrets"
# logical secret name -> file under /run/secrets in the exporter's container
SECRET_FILES = {
    "metrics-ca.crt": "ca.crt",
    "metrics-monitor.crt": "monitor.crt",
    "metrics-monitor.key": "monitor.key",
    "metrics-monitor.password": "monitor.password",
}
USER = "65534:65534"  # nobody: it writes nothing
OWNER = "65534"
MEMORY = 256 * 1024**2  # measured: 74 MB resident after a scrape, plus the health check
DISABLED = "metrics.enabled is not true in the stack file"
LISTENING = "import socket; socket.create_connection(('127.0.0.1', {port}), 2).close()"


@dataclass(frozen=True)
class CertExpiry:
    """A certificate the exporter reports the expiry of (``not_after``: ISO 8601)."""

    kind: str
    name: str
    not_after: str | None


@dataclass(frozen=True)
class ExporterState:
    """The exporter's objects: secrets, the targets config, the service (in that order)."""

    secrets: tuple[DesiredObject, ...]
    config: DesiredObject
    service: DesiredObject

    def objects(self) -> tuple[DesiredObject, ...]:
        return (*self.secrets, self.config, self.service)


def service_name(stack: Stack) -> str:
    return labels.object_name(stack.name, LOGICAL)


def targets_document(state: DesiredState, certificates: Sequence[CertExpiry]) -> dict[str, Any]:
    """What the exporter scrapes and how it logs in: every node that stays, as it dials it."""
    stack = state.stack
    shown = [n for n in state.nodes if not n.retiring]
    retiring = {n.name for n in state.nodes if n.retiring}
    targets = []
    for node in shown:
        host = state.assignment.addresses[node.name] if stack.host_network else node.alias
        targets.append(
            {
                "name": node.name,
                "role": "sentinel" if node.kind == "sentinel" else node.role,
                "primary": node.primary,
                "host": host,
                "port": node.port,
                "server_name": node.alias,
            }
        )
    return {
        "stack": stack.name,
        "mode": stack.mode,
        "scrape_timeout": stack.metrics.scrape_timeout,
        "targets": targets,
        "certificates": [
            {"kind": c.kind, "name": c.name, "not_after": c.not_after}
            for c in certificates
            if not (c.kind == "node" and c.name in retiring)
        ],
        "credentials": {
            "username": "monitor",
            "ca": f"{SECRETS_DIR}/ca.crt",
            "cert": f"{SECRETS_DIR}/monitor.crt",
            "key": f"{SECRETS_DIR}/monitor.key",
            "password": f"{SECRETS_DIR}/monitor.password",
        },
    }


def exporter_state(
    state: DesiredState, material: Mapping[str, bytes], certificates: Sequence[CertExpiry]
) -> ExporterState:
    """The exporter's objects for ``state``; ``material`` maps each name of
    ``SECRET_FILES`` to its bytes (the monitor user's, from the store)."""
    stack = state.stack
    secrets = tuple(
        data_object("secret", stack, name, material[name], part=PART) for name in SECRET_FILES
    )
    text = json.dumps(targets_document(state, certificates), indent=2, sort_keys=True) + "\n"
    config = data_object("config", stack, TARGETS_LOGICAL, text.encode(), part=PART)
    return ExporterState(secrets, config, _service(stack, secrets, config))


def _part(logical: str) -> dict[str, str | None]:
    return {labels.PART: PART, labels.LOGICAL: logical}


def _service(
    stack: Stack, secrets: Sequence[DesiredObject], config: DesiredObject
) -> DesiredObject:
    metrics = stack.metrics
    assert metrics.image is not None  # the stack file requires it when enabled
    listen = f"0.0.0.0:{metrics.port}"
    container: dict[str, Any] = {
        "Image": metrics.image,
        "Labels": {labels.STACK_NAMESPACE: stack.name},
        "Command": ["python3", "-m", "swarmredis", "exporter", TARGETS_PATH, "--listen", listen],
        "Env": ["PYTHONDONTWRITEBYTECODE=1"],
        "User": USER,
        "Init": True,
        "ReadOnly": True,
        "CapabilityDrop": ["ALL"],
        "Secrets": [
            {"File": _file(SECRET_FILES[s.logical], 0o400), "SecretName": s.name} for s in secrets
        ],
        "Configs": [{"File": _file(TARGETS_PATH, 0o444), "ConfigName": config.name}],
        "DNSConfig": {"Options": list(DNS_OPTIONS)},
        "StopGracePeriod": 5 * SECOND,
        # Swarm calls the task running only once this passes: it listens (a scrape would
        # probe every node each time)
        "Healthcheck": {
            "Test": ["CMD", "python3", "-c", LISTENING.format(port=metrics.port)],
            "Interval": 5 * SECOND,
            "Timeout": 3 * SECOND,
            "Retries": 3,
            "StartPeriod": 30 * SECOND,
        },
    }
    network: dict[str, Any] = {"Target": stack.network.name}
    endpoint: dict[str, Any] = {"Mode": "dnsrr"}
    if not stack.host_network:
        network["Aliases"] = [labels.dns_alias(stack.name, LOGICAL)]
        port = metrics.port
        endpoint["Ports"] = [
            {"Protocol": "tcp", "TargetPort": port, "PublishedPort": port, "PublishMode": "host"}
        ]
    spec: dict[str, Any] = {
        "Name": service_name(stack),
        "Labels": object_labels(stack, "service", **{labels.ROLE: "exporter", **_part(LOGICAL)}),
        "TaskTemplate": {
            "ContainerSpec": container,
            "Resources": {"Limits": {"MemoryBytes": MEMORY, "NanoCPUs": SECOND // 4}},
            "RestartPolicy": {"Condition": "any", "Delay": 5 * SECOND, "MaxAttempts": 0},
            "Placement": {"Constraints": ["node.role == manager"]},
            "Networks": [network],
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "UpdateConfig": {"Parallelism": 1, "FailureAction": "pause", "Order": "stop-first"},
        "EndpointSpec": endpoint,
    }
    return finish("service", service_name(stack), LOGICAL, spec)


def _file(name: str, mode: int) -> dict[str, Any]:
    return {"Name": name, "UID": OWNER, "GID": OWNER, "Mode": mode}


def exporter_changes(
    want: ExporterState | None,
    observed: Sequence[ObservedObject],
    network_ids: Mapping[str, str] | None = None,
) -> tuple[Change, ...]:
    """What to do with the exporter's objects (``observed``: the stack's objects labelled
    ``part: metrics``; ``network_ids``: network name -> id, as a service lists its
    networks): ``want`` None (metrics not enabled) removes them all."""
    if want is None:
        order = {"service": 0, "config": 1, "secret": 2, "network": 3}
        return tuple(
            Change(o.kind, o.name, o.logical or o.name, "remove", id=o.id, reason=DISABLED)
            for o in sorted(observed, key=lambda o: order[o.kind])
        )
    names = {o.name: o for o in observed if o.kind != "service"}
    out = []
    for obj in (*want.secrets, want.config):
        have = names.get(obj.name)
        action: Action = "noop" if have else "create"
        out.append(
            Change(
                obj.kind, obj.name, obj.logical, action, id=have.id if have else None, desired=obj
            )
        )
    services = [o for o in observed if o.kind == "service"]
    out.append(_service_change(want.service, services, network_ids or {}))
    wanted = {o.name for o in want.objects()}
    out += [
        Change(
            o.kind,
            o.name,
            o.logical or o.name,
            "remove",
            id=o.id,
            after_update=True,
            reason="older version, replaced",
        )
        for o in observed
        if o.kind != "service" and o.name not in wanted
    ]
    return tuple(out)


def _service_change(
    want: DesiredObject, have: Sequence[ObservedObject], network_ids: Mapping[str, str]
) -> Change:
    match = next(iter(have), None)
    if match is None:
        return Change("service", want.name, want.logical, "create", desired=want)
    if match.spec_hash == want.spec_hash:
        return Change(
            "service",
            want.name,
            want.logical,
            "noop",
            id=match.id,
            version=match.version,
            desired=want,
        )
    assert want.spec is not None
    observed = with_network_names(match.spec, network_ids)
    fields = changed_paths(want.spec, observed) or (f"Labels.{labels.SPEC_HASH}",)
    return Change(
        "service", want.name, want.logical, "update", fields, match.id, match.version, desired=want
    )
