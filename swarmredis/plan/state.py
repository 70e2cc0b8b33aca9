"""The whole desired state of a stack: placement, material, configs, services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from swarmredis.plan.liveconf import live_labels
from swarmredis.plan.objects import (
    DesiredObject,
    data_object,
    network_object,
    pending_secret,
)
from swarmredis.plan.placement import Assignment, planned_slots
from swarmredis.plan.redisconf import redis_conf_parts, sentinel_conf
from swarmredis.plan.services import config_logical, node_secrets, service_object
from swarmredis.stackfile.model import Stack
from swarmredis.stackfile.topology import Layout, LogicalNode, topology


@dataclass(frozen=True)
class DesiredState:
    """Everything a stack should be on the Swarm, before comparing with what is."""

    stack: Stack
    nodes: tuple[LogicalNode, ...]
    assignment: Assignment
    slots: Mapping[str, tuple[int, int]]  # cluster primary -> inclusive slot range
    network: DesiredObject | None  # None on the host network: nothing to create
    secrets: tuple[DesiredObject, ...]
    configs: tuple[DesiredObject, ...]
    services: tuple[DesiredObject, ...]
    warnings: tuple[str, ...]
    missing_material: tuple[str, ...]

    @property
    def retiring(self) -> tuple[LogicalNode, ...]:
        """The nodes a lower count retires (``deploy`` drains, forgets, then removes them)."""
        return tuple(n for n in self.nodes if n.retiring)

    def objects(self) -> tuple[DesiredObject, ...]:
        """All objects in creation order: network, secrets, configs, services."""
        network = () if self.network is None else (self.network,)
        return (*network, *self.secrets, *self.configs, *self.services)


def required_material(stack: Stack, layout: Layout | None = None) -> tuple[str, ...]:
    """Logical names of the material (secrets) the stack needs, sorted."""
    names: set[str] = set()
    for node in topology(stack, layout):
        names.update(node_secrets(stack, node))
    return tuple(sorted(names))


def spec_warnings(stack: Stack) -> tuple[str, ...]:
    """Settings that are valid but weaken the stack."""
    out = []
    if stack.tls.auth_clients != "required":
        out.append(f"tls.auth_clients is {stack.tls.auth_clients}: clients need no certificate")
    if stack.mode != "standalone" and stack.replicas == 0:
        out.append("replicas is 0: losing a host loses data and availability")
    return tuple(out)


def desired_state(
    stack: Stack,
    assignment: Assignment,
    material: Mapping[str, bytes],
    layout: Layout | None = None,
) -> DesiredState:
    """Plan every Swarm object of ``stack`` placed as ``assignment`` (``plan.placement.place``).

    ``material`` maps logical secret names (docs/architecture.md) to their bytes;
    missing names make the secrets and the services using them pending.
    """
    nodes = topology(stack, layout)
    host_of = assignment.addresses
    secrets = _secrets(stack, material, layout)
    rendered = [_config(stack, node, nodes, host_of) for node in nodes]
    configs = tuple(config for config, _ in rendered)
    secret_names = {s.logical: s.name for s in secrets if not s.pending}
    services = tuple(
        _service(stack, node, assignment, secret_names, config.name, live)
        for node, (config, live) in zip(nodes, rendered, strict=True)
    )
    sharded = stack.mode == "cluster"
    heads = [n.name for n in nodes if n.role == "primary" and not n.retiring]
    slots = planned_slots(heads if sharded else [])
    return DesiredState(
        stack=stack,
        nodes=nodes,
        assignment=assignment,
        slots=slots,
        network=None if stack.host_network else network_object(stack),
        secrets=secrets,
        configs=configs,
        services=services,
        warnings=spec_warnings(stack) + assignment.warnings,
        missing_material=tuple(s.logical for s in secrets if s.pending),
    )


def _secrets(
    stack: Stack, material: Mapping[str, bytes], layout: Layout | None
) -> tuple[DesiredObject, ...]:
    return tuple(
        data_object("secret", stack, logical, material[logical])
        if logical in material
        else pending_secret(logical)
        for logical in required_material(stack, layout)
    )


def _config(
    stack: Stack, node: LogicalNode, nodes: Sequence[LogicalNode], host_of: Mapping[str, str]
) -> tuple[DesiredObject, dict[str, str]]:
    """A node's config, and the labels of its live settings (none for a sentinel)."""
    live: dict[str, str] = {}
    if node.kind == "redis":
        by_name = {n.name: n for n in nodes}
        primary_at = None
        if node.primary is not None:  # a replica: where its planned primary listens
            primary_at = (host_of[node.primary], by_name[node.primary].port)
        text, digest, values = redis_conf_parts(stack, node, host_of[node.name], primary_at)
        live = live_labels(digest, values)
    else:
        primary = next(n for n in nodes if n.role == "primary")
        text = sentinel_conf(stack, node, primary, host_of[node.name], host_of[primary.name])
    return data_object("config", stack, config_logical(node), text.encode("utf-8")), live


def _service(
    stack: Stack,
    node: LogicalNode,
    assignment: Assignment,
    secret_names: Mapping[str, str],
    config_name: str,
    live: Mapping[str, str],
) -> DesiredObject:
    missing = tuple(s for s in node_secrets(stack, node) if s not in secret_names)
    if missing:
        return DesiredObject("service", node.service, node.name, None, None, missing=missing)
    return service_object(
        stack,
        node,
        assignment.nodes[node.name],
        secret_names,
        config_name,
        assignment.addresses[node.name],
        live=live,
    )
