"""``plan``, and the first step of ``deploy``: read the Swarm, place, check host ports,
(issue,) plan, diff.

A dry run is simply stopping here: ``plan`` calls ``plan_stack(..., issue=False)`` and
prints the diff; ``deploy`` calls it with ``issue=True`` and goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import anyio

from swarmredis import labels
from swarmredis.constants import DEFAULT_CONCURRENCY, LOCK_WAIT_S, NODE_TIMEOUT_S
from swarmredis.engine.flows.exporter import plan_exporter
from swarmredis.engine.swarm.observe import observe
from swarmredis.engine.swarm.records import read_volume_record
from swarmredis.errors import PKIError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.pki.manage import ensure_certs
from swarmredis.pki.material import build_material, stack_pki
from swarmredis.pki.model import StackPKI
from swarmredis.pki.store import CertStore
from swarmredis.pki.validate import check_store
from swarmredis.plan import exporter
from swarmredis.plan.diff import Plan, diff
from swarmredis.plan.observe import ObservedObject, previous_assignment
from swarmredis.plan.placement import Assignment, place
from swarmredis.plan.ports import check_host_ports, ports_taken
from swarmredis.plan.seating import seating
from swarmredis.plan.state import desired_state
from swarmredis.stackfile import Stack
from swarmredis.stackfile.topology import Layout


@dataclass(frozen=True)
class DeployOptions:
    """Knobs of one plan or deploy run."""

    certs_dir: Path
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = 300.0
    prune: bool = False
    allow_colocation: bool = False
    node_timeout: float = NODE_TIMEOUT_S
    restore_roles: bool = True
    allow_downtime: bool = False  # restart primaries that have no linked replica
    lock_timeout: float = LOCK_WAIT_S  # seconds to wait for another run's lock
    preflight: bool = True  # read the hosts first when services are created


async def check_certs(store: CertStore) -> None:
    """Refuse a store with a present-but-bad file (``pki/validate.py``); callers run it
    before their first Docker request, so a bad store never gets as far as the Swarm."""
    await anyio.to_thread.run_sync(lambda: check_store(store, now=datetime.now(UTC)))


@dataclass(frozen=True)
class LiveStack:
    """What the Swarm holds of a stack and where its nodes go: the ground every plan,
    certificate and rotation works from."""

    objects: tuple[ObservedObject, ...]  # the nodes' (network, secrets, configs, services)
    layout: Layout
    assignment: Assignment
    pki: StackPKI
    metrics: tuple[ObservedObject, ...] = ()  # the metrics exporter's (plan.exporter)


async def read_live(gateway: DockerGateway, stack: Stack, options: DeployOptions) -> LiveStack:
    """Read the Swarm, seat and place ``stack``'s nodes, check host ports: the nodes a
    scaled stack really has, with the names, hosts and addresses their certificates carry."""
    nodes, seen = await observe(gateway, stack.name)
    objects = tuple(o for o in seen if labels.PART not in o.labels)
    record = await read_volume_record(gateway, stack.name)
    retired = record.retired if record else ()  # a retired node's index is never reused
    # the live nodes keep their names, roles and ports; fewer nodes retire (drained first)
    layout = seating(stack, objects, retired).layout
    # Placement first, once: it fails before anything is written, and with `announce: host`
    # the chosen hosts' addresses belong in the certificates.
    previous = previous_assignment(objects)
    assignment = place(stack, nodes, previous, options.allow_colocation, layout)
    # Swarm does not know the ports a host-network node binds: refuse clashes with the
    # nodes of other stacks on the same hosts here, before anything is written.
    taken = ports_taken(await gateway.list("service"), stack.name)
    check_host_ports(stack, assignment.nodes, taken, layout)
    hosts = (
        {name: (addr,) for name, addr in assignment.addresses.items()}
        if stack.announce == "host"
        else None
    )
    metrics = tuple(o for o in seen if o.labels.get(labels.PART) == exporter.PART)
    return LiveStack(objects, layout, assignment, stack_pki(stack, hosts, layout), metrics)


async def deployed_pki(
    gateway: DockerGateway,
    stack: Stack,
    options: DeployOptions,
    host_addresses: Mapping[str, Sequence[str]] | None = None,
) -> StackPKI | None:
    """The certificates a deployed ``stack`` needs, as ``deploy`` and ``certs rotate`` see
    them: its live nodes (a scaled stack's names are not the stack file's counts), with
    ``announce: host`` their hosts' addresses, or ``host_addresses`` when given. None when
    the stack has no service on this Swarm."""
    live = await read_live(gateway, stack, options)
    if not any(o.kind == "service" for o in live.objects):
        return None
    if host_addresses:
        return stack_pki(stack, host_addresses, live.layout)
    return live.pki


async def plan_stack(
    gateway: DockerGateway,
    stack: Stack,
    store: CertStore,
    options: DeployOptions,
    *,
    issue: bool,
) -> tuple[Plan, list[str]]:
    """Read the Swarm and plan ``stack``; with ``issue``, create missing certificates first.

    Returns the plan and the certificates issued (``kind name``).
    """
    live = await read_live(gateway, stack, options)
    pki = live.pki
    issued: list[str] = []
    if issue:
        report = await anyio.to_thread.run_sync(
            lambda: ensure_certs(store, pki, now=datetime.now(UTC))
        )
        issued = [f"{leaf.kind} {leaf.name}" for leaf in report.issued]
    material = await anyio.to_thread.run_sync(lambda: _material_or_empty(store, pki, issue))
    desired = desired_state(stack, live.assignment, material, live.layout)
    networks = {o.name: o.id for o in live.objects if o.kind == "network"}
    metrics = await plan_exporter(
        desired, store, pki, live.metrics, required=issue, network_ids=networks
    )
    return replace(diff(desired, live.objects, options.prune), metrics=metrics), issued


def _material_or_empty(store: CertStore, pki: StackPKI, required: bool) -> dict[str, bytes]:
    """The stack's secrets; for a plan, those that exist (a new node's show pending), or
    none without certificates yet (they all show pending)."""
    if required:
        return build_material(store, pki)
    try:
        return build_material(store, pki, new_nodes_pending=True)
    except PKIError:
        return {}
