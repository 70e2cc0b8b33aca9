"""Private CA, TLS certificates and ACL users of a stack.

Pure builders: ``ca``, ``leaf``, ``acl``, ``keys``, ``model``, ``status``.
File I/O: ``store`` (the on-disk layout), ``manage`` (operations on a store),
``rotation`` (the CA rotation's steps, the record of a running ``certs rotate``),
``material`` (what the plan mounts and the engine logs in with).
"""

from swarmredis.pki.acl import AclUser
from swarmredis.pki.ca import CertKey, NameLimits
from swarmredis.pki.keys import KeyType
from swarmredis.pki.leaf import Reason
from swarmredis.pki.manage import (
    IssueReport,
    LeafCheck,
    Trust,
    check_leaves,
    ensure_certs,
    env_passphrase,
    init_ca,
    issue,
    store_status,
)
from swarmredis.pki.material import (
    ClientCredentials,
    build_material,
    load_admin_credentials,
    stack_pki,
)
from swarmredis.pki.model import ServerNode, StackPKI
from swarmredis.pki.rotation import finish_ca_rotation, start_ca_rotation
from swarmredis.pki.status import CertInfo, State, exit_code
from swarmredis.pki.store import CertStore, resolve_base

__all__ = [
    "AclUser",
    "CertInfo",
    "CertKey",
    "CertStore",
    "ClientCredentials",
    "IssueReport",
    "KeyType",
    "LeafCheck",
    "NameLimits",
    "Reason",
    "ServerNode",
    "StackPKI",
    "State",
    "Trust",
    "build_material",
    "check_leaves",
    "ensure_certs",
    "env_passphrase",
    "exit_code",
    "finish_ca_rotation",
    "init_ca",
    "issue",
    "load_admin_credentials",
    "resolve_base",
    "stack_pki",
    "start_ca_rotation",
    "store_status",
]
