"""How fast a fresh cluster forms: two settings lowered for a moment, then put back (pure).

Measured on 6 local redis-server 7.0.15 cluster nodes, bootstrap to ``cluster_state:ok``
everywhere with every replica linked: 5-7 s with Redis's defaults, 0.5 s with both
settings below lowered (issue 9; docs/performance.md).

- ``cluster-node-timeout``: ``clusterUpdateState`` (cluster.c) keeps a primary that was in a
  minority in state ``fail`` for a rejoin delay, the node timeout clamped to 0.5-5 s: 5 s
  with the default 15000 ms. Every primary of a fresh cluster is in a minority until it
  has learned that the others serve slots. And a node pings a peer it has not heard from
  in half the node timeout, so with 15 s the nodes learn each other's new roles (who
  replicates whom) only after seconds of random gossip. 500 ms while the cluster forms.
- ``cluster-replica-no-failover``: ``yes`` for as long as the node timeout is that low, so
  that a node slow to answer on a busy host cannot make its replica fail over.
- ``repl-diskless-sync-delay``: a primary waits this long (default 5 s) for more replicas
  before a diskless full sync. 0 while the fresh replicas do their first (empty) sync.

The window opens after MEET (fresh clusters only) and closes once the cluster is whole:
first the node timeout goes back on every node, then failovers are allowed again and the
sync delay goes back. Every bootstrap ends by reading these settings on every node and
setting back any that differ from the configured values, so a run interrupted in the
window heals on the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from swarmredis.engine.modes.base import Action

NODE_TIMEOUT = "cluster-node-timeout"
NO_FAILOVER = "cluster-replica-no-failover"
SYNC_DELAY = "repl-diskless-sync-delay"
SETTINGS = (NODE_TIMEOUT, NO_FAILOVER, SYNC_DELAY)
WINDOW_SETTINGS = (NODE_TIMEOUT, NO_FAILOVER)  # what `status` checks: the window's danger
# Redis's defaults: swarmredis's redis.conf sets no cluster-* directive (they are its own),
# and repl-diskless-sync-delay only when the stack's `config:` does.
DEFAULT_NODE_TIMEOUT_MS = "15000"
DEFAULT_NO_FAILOVER = "no"
DEFAULT_SYNC_DELAY_S = "5"


@dataclass(frozen=True)
class Timing:
    """The values of ``cluster-node-timeout`` (ms), ``cluster-replica-no-failover`` and
    ``repl-diskless-sync-delay`` (s), in the order they are set."""

    node_timeout_ms: str
    no_failover: str
    sync_delay_s: str

    def settings(self) -> dict[str, str]:
        return {
            NODE_TIMEOUT: self.node_timeout_ms,
            NO_FAILOVER: self.no_failover,
            SYNC_DELAY: self.sync_delay_s,
        }

    def closing(self) -> Timing:
        """The first step out of the forming window: this node timeout, the rest still
        as while forming (no failover until every node has its node timeout back)."""
        return Timing(self.node_timeout_ms, FORMING.no_failover, FORMING.sync_delay_s)


# the lowest rejoin delay cluster.c allows (CLUSTER_MIN_REJOIN_DELAY), no failover, no sync wait
FORMING = Timing("500", "yes", "0")


def configured_timing(config: Mapping[str, str]) -> Timing:
    """What every node runs with once bootstrapped: Redis's defaults, or the stack's
    ``config: repl-diskless-sync-delay``."""
    sync_delay = config.get(SYNC_DELAY, DEFAULT_SYNC_DELAY_S)
    return Timing(DEFAULT_NODE_TIMEOUT_MS, DEFAULT_NO_FAILOVER, sync_delay)


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


def window_left_open(settings: Mapping[str, str]) -> list[str]:
    """What a node's settings show of a forming window that a killed run left open: no
    automatic failover, or the forming node timeout (pure; ``status`` reports them)."""
    found = []
    if settings.get(NO_FAILOVER) == FORMING.no_failover:
        found.append(f"automatic failover is off ({NO_FAILOVER} {FORMING.no_failover})")
    if settings.get(NODE_TIMEOUT) == FORMING.node_timeout_ms:
        found.append(f"{NODE_TIMEOUT} is {FORMING.node_timeout_ms} ms")
    return found
