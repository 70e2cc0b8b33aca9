"""What the PKI needs to know about a stack, as plain frozen data (pure).

``material.stack_pki`` builds it from a validated ``Stack``; tests and other
callers can build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography import x509

from swarmredis.errors import PKIError
from swarmredis.pki import acl
from swarmredis.pki.leaf import server_names

NodeKind = Literal["redis", "sentinel"]


@dataclass(frozen=True)
class ServerNode:
    """A redis node or sentinel that gets a server certificate."""

    name: str  # logical name: node-1, sentinel-2
    alias: str  # overlay DNS alias: acme-node-1
    kind: NodeKind = "redis"
    host_addresses: tuple[str, ...] = ()  # host IPs/names clients may use to reach it

    def names(self) -> tuple[x509.GeneralName, ...]:
        """The SANs its certificate must carry."""
        return server_names(self.alias, self.host_addresses)


@dataclass(frozen=True)
class StackPKI:
    """The stack as the PKI sees it: names, nodes, users."""

    stack: str
    nodes: tuple[ServerNode, ...]
    users: tuple[acl.AclUser, ...] = ()  # stack users (built-in users are added here)
    sentinels: bool = False  # replication mode with sentinels
    cluster: bool = False  # cluster mode: the replication user also heals addresses

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise PKIError(f"stack {self.stack!r}: node names repeat: {names}")
        if not self.nodes:
            raise PKIError(f"stack {self.stack!r}: no nodes to issue certificates for")
        self.redis_users()  # refuses clashes early

    def redis_users(self) -> tuple[acl.AclUser, ...]:
        """Users of the redis nodes' ACL file."""
        return acl.redis_users(self.users, sentinels=self.sentinels, cluster=self.cluster)

    def sentinel_users(self) -> tuple[acl.AclUser, ...]:
        """Users defined on the sentinels (empty without sentinels)."""
        return acl.sentinel_side_users(self.users) if self.sentinels else ()

    def client_users(self) -> tuple[str, ...]:
        """Users that get a client certificate."""
        return tuple(u.name for u in self.redis_users() if u.client_cert)

    def password_users(self) -> tuple[str, ...]:
        """Users that need a stored password."""
        return acl.password_users((*self.redis_users(), *self.sentinel_users()))

    def aliases(self) -> tuple[str, ...]:
        """DNS aliases of every node (for CA name constraints)."""
        return tuple(n.alias for n in self.nodes)
