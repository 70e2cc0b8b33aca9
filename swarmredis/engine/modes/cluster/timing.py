"""How fast a fresh cluster forms: two settings lowered for a moment, then put back (pure).

Measured on 6 local redis-server 7.0.15 cluster nodes, bootstrap to ``cluster_state:ok``
everywhere with every replica linked: 5-7 s with Redis's defaults, 0.5 s with both
settings below lowered (issue 9; docs/performance.md).

- ``cluster-node-timeout``: ``clusterUpdateState`` (cluster.c) keeps a primary that was in a
  minority in state ``fail`` for a rejoin delay, the node timeout clamped to 0.5-5 s: 5 s
  with the default 15000 ms. Every primary of a fresh cluster is in a minority until it
  has learned that the others serve slots. Lowered to 500 ms just before ADDSLOTSRANGE and
  put back as soon as every primary reports ``cluster_state:ok``, before any replica
  exists: a low node timeout with replicas could start failovers on a busy host, without
  replicas none can start.
- ``repl-diskless-sync-delay``: a primary waits this long (default 5 s) for more replicas
  before a diskless full sync. 0 while the fresh replicas do their first (empty) sync, put
  back once every replica is linked.

Every bootstrap ends by reading both settings on every node and setting back any that
differ from the configured values, so a run interrupted in between heals on the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from swarmredis.engine.modes.base import Action
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.redis.facts import NodeFacts

NODE_TIMEOUT = "cluster-node-timeout"
SYNC_DELAY = "repl-diskless-sync-delay"
SETTINGS = (NODE_TIMEOUT, SYNC_DELAY)
# Redis's defaults: swarmredis's redis.conf sets no cluster-* directive (they are its own),
# and repl-diskless-sync-delay only when the stack's `config:` does.
DEFAULT_NODE_TIMEOUT_MS = "15000"
DEFAULT_SYNC_DELAY_S = "5"


@dataclass(frozen=True)
class Timing:
    """The values of ``cluster-node-timeout`` (ms) and ``repl-diskless-sync-delay`` (s)."""

    node_timeout_ms: str
    sync_delay_s: str

    def settings(self) -> dict[str, str]:
        return {NODE_TIMEOUT: self.node_timeout_ms, SYNC_DELAY: self.sync_delay_s}


FORMING = Timing("500", "0")  # the lowest rejoin delay cluster.c allows; no sync wait


def configured_timing(config: Mapping[str, str]) -> Timing:
    """What every node runs with once bootstrapped: Redis's defaults, or the stack's
    ``config: repl-diskless-sync-delay``."""
    return Timing(DEFAULT_NODE_TIMEOUT_MS, config.get(SYNC_DELAY, DEFAULT_SYNC_DELAY_S))


def retime_actions(
    current: Mapping[str, Mapping[str, str]], wanted: Timing, reason: str
) -> list[Action]:
    """``CONFIG SET`` of every setting that differs from ``wanted``, node by node."""
    return [
        Action(name, ("CONFIG", "SET", key, value), reason)
        for name, settings in current.items()
        for key, value in wanted.settings().items()
        if settings.get(key) != value
    ]


def primaries_not_serving(
    members: Sequence[ClusterMember], views: Mapping[str, NodeFacts]
) -> list[str]:
    """The planned primaries that do not report ``cluster_state:ok`` yet."""
    return [
        f"{m.name}: cluster_state {views[m.name].cluster.state}"
        for m in members
        if m.role == "primary" and views[m.name].cluster.state != "ok"
    ]
