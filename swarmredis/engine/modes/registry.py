"""The modes by name, and which mode a running stack is of."""

from __future__ import annotations

from swarmredis.engine.modes.base import Mode
from swarmredis.engine.modes.cluster.mode import ClusterMode
from swarmredis.engine.modes.replication.mode import ReplicationMode
from swarmredis.engine.modes.standalone import StandaloneMode

MODES: dict[str, Mode] = {m.name: m for m in (ClusterMode(), ReplicationMode(), StandaloneMode())}


def mode_for(name: str) -> Mode:
    """The mode a stack file names (the stack file's validation allows only these)."""
    return MODES[name]


def mode_of(planned_roles: set[str], sharded: bool) -> Mode:
    """The mode of a running stack, from its services' planned-role and shard labels."""
    return next(m for m in MODES.values() if m.claims(planned_roles, sharded))
