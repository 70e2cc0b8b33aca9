"""Label keys and naming rules: the one place that knows them.

Objects are found by label, never by parsing names. Names follow
``docker stack deploy`` (``<stack>_<name>``) so ``docker stack ls/ps/rm``
work on swarmredis stacks.
"""

from __future__ import annotations

STACK_NAMESPACE = "com.docker.stack.namespace"
PREFIX = "io.swarmredis"
MANAGED = f"{PREFIX}.managed"  # "true" on every object we create
STACK = f"{PREFIX}.stack"  # stack name
KIND = f"{PREFIX}.kind"  # network | service | secret | config
ROLE = f"{PREFIX}.role"  # redis | sentinel
NODE = f"{PREFIX}.node"  # logical node name, e.g. node-1
SPEC_HASH = f"{PREFIX}.spec-hash"  # hash of the canonical desired spec
LOGICAL = f"{PREFIX}.logical"  # logical name of a secret/config (without hash suffix)

NODE_LABEL_ZONE = "zone"
NODE_LABEL_REDIS = "redis"


def object_name(stack: str, name: str) -> str:
    """Swarm object name, as docker stack names things: ``acme_node-1``."""
    return f"{stack}_{name}"


def dns_alias(stack: str, name: str) -> str:
    """Overlay DNS alias usable as a Redis announced hostname (no ``_``): ``acme-node-1``."""
    return f"{stack}-{name}"


def volume_name(stack: str, index: int) -> str:
    """Named volume holding ``/data`` of the node with this index: ``acme_data-1``."""
    return f"{stack}_data-{index}"


def versioned_name(stack: str, logical: str, digest: str) -> str:
    """Name of an immutable secret/config: ``acme_tls-node-1.3f9a2c1e``."""
    return f"{stack}_{logical}.{digest[:8]}"


def sentinel_volume_name(stack: str, index: int) -> str:
    """Named volume holding ``/data`` of the sentinel with this index: ``acme_sentinel-data-1``."""
    return f"{stack}_sentinel-data-{index}"


PART = f"{PREFIX}.part"  # "metrics": the exporter's objects, kept apart from the nodes'
PLANNED_ROLE = f"{PREFIX}.planned-role"  # primary | replica | standalone | sentinel (as planned)
SHARD = f"{PREFIX}.shard"  # cluster shard number of a Redis node
HOST_PORT = f"{PREFIX}.host-port"  # the port a node listens on, on the host network only
# live configuration (plan/liveconf.py): the digest of a Redis node's redis.conf without
# its live settings, and the live settings it runs with (canonical JSON)
CONFIG_STATIC = f"{PREFIX}.config-static"
CONFIG_LIVE = f"{PREFIX}.config-live"
