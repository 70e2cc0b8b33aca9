"""From the store to what the plan mounts, and what the engine logs in with.

``build_material`` returns the logical name -> bytes mapping of
docs/architecture.md ("Material"); the plan turns each entry into a Docker
secret mounted at ``/run/secrets/<logical>``. ``stack_pki`` adapts a validated
``Stack`` to the PKI's plain ``StackPKI``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from swarmredis.errors import PKIError
from swarmredis.pki import acl
from swarmredis.pki.manage import cert_pem, load_trust
from swarmredis.pki.model import ServerNode, StackPKI
from swarmredis.pki.passwords import previous_passwords
from swarmredis.pki.rotation import served_chain
from swarmredis.pki.store import CertStore
from swarmredis.stackfile import Stack, topology
from swarmredis.stackfile.topology import Layout

CA_BUNDLE = "ca.crt"
USERS_ACL = "users.acl"
REPLICATION_AUTH = "replication-auth.conf"
SENTINEL_AUTH = "sentinel-auth.conf"


def stack_pki(
    stack: Stack,
    host_addresses: Mapping[str, Sequence[str]] | None = None,
    layout: Layout | None = None,
) -> StackPKI:
    """The PKI view of ``stack``; ``host_addresses`` (node -> addresses) become extra SANs.

    Pass host addresses for nodes that clients reach by host address
    (``announce: host``); passing every candidate host of a node keeps its
    certificate valid when Swarm moves it. ``layout``: a live stack's (``plan.seating``).
    """
    nodes = topology(stack, layout)
    addresses = dict(host_addresses or {})
    unknown = sorted(set(addresses) - {n.name for n in nodes})
    if unknown:
        raise PKIError(
            f"host addresses given for unknown nodes: {', '.join(unknown)}",
            hint="valid names: " + ", ".join(n.name for n in nodes),
        )
    return StackPKI(
        stack=stack.name,
        nodes=tuple(
            ServerNode(n.name, n.alias, n.kind, tuple(addresses.get(n.name, ()))) for n in nodes
        ),
        users=tuple(
            acl.stack_user(u.name, u.keys, u.channels, u.commands, cluster=stack.mode == "cluster")
            for u in stack.acl.users
        ),
        sentinels=stack.sentinel_count > 0,
        cluster=stack.mode == "cluster",
    )


def build_material(
    store: CertStore, spec: StackPKI, *, new_nodes_pending: bool = False
) -> dict[str, bytes]:
    """Logical name -> bytes of every secret the stack's services mount.

    ``new_nodes_pending`` (``plan``, which issues nothing): a node that has no certificate
    yet (one a scale-out adds) is left out, so only its own secrets show as pending."""
    material: dict[str, bytes] = {}
    material[CA_BUNDLE] = cert_pem(load_trust(store).bundle())
    for node in spec.nodes:
        if new_nodes_pending and not store.node_cert(node.name).exists():
            continue
        material[f"{node.name}.crt"] = served_chain(store, store.read(store.node_cert(node.name)))
        material[f"{node.name}.key"] = store.read_secret(store.node_key(node.name))
    passwords = {user: store.read_password(user) for user in spec.password_users()}
    previous = previous_passwords(store, spec.password_users())  # rotations under way
    material[USERS_ACL] = acl.render_users(spec.redis_users(), passwords, previous).encode()
    material[REPLICATION_AUTH] = acl.replication_auth(passwords[acl.REPLICATION]).encode()
    if spec.sentinels:
        users = acl.render_users(spec.sentinel_users(), passwords, previous)
        text = acl.sentinel_auth(spec.stack, passwords[acl.SENTINEL], users)
        material[SENTINEL_AUTH] = text.encode()
    return material


@dataclass(frozen=True)
class ClientCredentials:
    """How a client user logs in to every node: TLS files and its password."""

    ca_path: Path
    cert_path: Path
    key_path: Path
    username: str
    password: str = field(repr=False)


def load_admin_credentials(store: CertStore) -> ClientCredentials:
    """The engine's credentials from the store; ``PKIError`` naming what is missing."""
    return load_client_credentials(store, acl.ADMIN)


def load_client_credentials(store: CertStore, user: str) -> ClientCredentials:
    """A client user's TLS files and password from the store (``PKIError`` naming what
    is missing): the engine's own, or the ``monitor`` user's for metrics."""
    for path in (store.ca_bundle, store.client_cert(user)):
        store.read(path)
    store.read_secret(store.client_key(user))
    return ClientCredentials(
        ca_path=store.ca_bundle,
        cert_path=store.client_cert(user),
        key_path=store.client_key(user),
        username=user,
        password=store.read_password(user),
    )
