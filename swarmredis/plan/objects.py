"""Desired Swarm objects: exact Docker Engine API v1.41 bodies plus their spec hash.

``DesiredObject.spec`` is the body the engine POSTs (``/networks/create``,
``/secrets/create``, ``/configs/create``, ``/services/create`` or
``/services/{id}/update``). Every body carries the labels of ``object_labels``
and ``io.swarmredis.stackfile-hash``: the SHA-256 of its canonical JSON without that
label. Service bodies name their secrets and configs (``SecretName``,
``ConfigName``); the engine adds ``SecretID``/``ConfigID``, which Swarm requires
and which only exist once the objects do (``resolve_references``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from swarmredis import labels
from swarmredis.plan.observe import ObjectKind
from swarmredis.stackfile.model import Stack


@dataclass(frozen=True)
class DesiredObject:
    """One object the stack needs; ``spec`` is None while material is missing."""

    kind: ObjectKind
    name: str  # Swarm name; for pending secrets the logical name
    logical: str  # network name, logical material name, or logical node
    spec: Mapping[str, Any] | None
    spec_hash: str | None
    missing: tuple[str, ...] = ()  # logical material names still to be generated

    @property
    def pending(self) -> bool:
        """Whether the object cannot be built yet (``swarmredis certs issue`` first)."""
        return self.spec is None


def canonical_json(data: Any) -> str:
    """Deterministic JSON: sorted keys, no blanks, ASCII only."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def spec_hash(spec: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical JSON of ``spec`` without its own hash label."""
    body = dict(spec)
    body["Labels"] = {k: v for k, v in (spec.get("Labels") or {}).items() if k != labels.SPEC_HASH}
    return hashlib.sha256(canonical_json(body).encode("ascii")).hexdigest()


def finish(kind: ObjectKind, name: str, logical: str, spec: dict[str, Any]) -> DesiredObject:
    """Stamp ``spec`` with its hash label and wrap it."""
    digest = spec_hash(spec)
    spec["Labels"] = {**spec.get("Labels", {}), labels.SPEC_HASH: digest}
    return DesiredObject(kind=kind, name=name, logical=logical, spec=spec, spec_hash=digest)


def object_labels(stack: Stack, kind: ObjectKind, **extra: str | None) -> dict[str, str]:
    """Labels of every object of the stack; ``extra`` maps label keys to values (None: omit)."""
    out = {
        labels.STACK_NAMESPACE: stack.name,
        labels.MANAGED: "true",
        labels.STACK: stack.name,
        labels.KIND: kind,
    }
    out.update({key: value for key, value in extra.items() if value is not None})
    return out


def network_object(stack: Stack) -> DesiredObject:
    """NetworkCreate body of the stack's overlay network."""
    network = stack.network
    spec: dict[str, Any] = {
        "Name": network.name,
        "Driver": "overlay",
        "Attachable": network.attachable,
        "CheckDuplicate": True,
        "Labels": object_labels(stack, "network"),
    }
    if network.encrypted:
        spec["Options"] = {"encrypted": ""}
    if network.subnet:
        spec["IPAM"] = {"Driver": "default", "Config": [{"Subnet": network.subnet}]}
    return finish("network", network.name, network.name, spec)


def data_object(
    kind: ObjectKind, stack: Stack, logical: str, data: bytes, *, part: str | None = None
) -> DesiredObject:
    """SecretSpec or ConfigSpec of ``data``; its name carries the content digest. ``part``:
    the label of objects kept apart from the nodes' (``plan.exporter``)."""
    digest = hashlib.sha256(data).hexdigest()
    name = labels.versioned_name(stack.name, logical, digest)
    spec: dict[str, Any] = {
        "Name": name,
        "Labels": object_labels(stack, kind, **{labels.LOGICAL: logical, labels.PART: part}),
        "Data": base64.b64encode(data).decode("ascii"),
    }
    return finish(kind, name, logical, spec)


def pending_secret(logical: str) -> DesiredObject:
    """A secret whose material does not exist yet."""
    return DesiredObject("secret", logical, logical, None, None, missing=(logical,))


def resolve_references(
    spec: Mapping[str, Any], secret_ids: Mapping[str, str], config_ids: Mapping[str, str]
) -> dict[str, Any]:
    """Copy of a service body with ``SecretID``/``ConfigID`` filled in by name."""
    body = copy.deepcopy(dict(spec))
    container = body["TaskTemplate"]["ContainerSpec"]
    for ref in container.get("Secrets", []):
        ref["SecretID"] = secret_ids[ref["SecretName"]]
    for ref in container.get("Configs", []):
        ref["ConfigID"] = config_ids[ref["ConfigName"]]
    return body
