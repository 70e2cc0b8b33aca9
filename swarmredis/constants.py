"""Numbers used in more than one place, each defined once with its reason.

Everything may import this module: it imports nothing.
"""

from __future__ import annotations

# Redis Cluster's key space: CRC16(key) mod 16384 (cluster.h CLUSTER_SLOTS).
CLUSTER_SLOTS = 16384
# The cluster bus listens on the client port + 10000 unless told otherwise (cluster.c).
BUS_PORT_OFFSET = 10000

# Concurrent Docker requests and Redis connections of one run (--concurrency).
DEFAULT_CONCURRENCY = 16
# Seconds one Redis command or connection may take (--node-timeout): a node that does not
# answer within it counts as unreachable for that step.
NODE_TIMEOUT_S = 5.0
# Seconds one step of a role handover may take (a coordinated CLUSTER FAILOVER takes ~1 s,
# a Sentinel's view of a replica is refreshed every 10 s).
HANDOVER_TIMEOUT_S = 60.0
# Seconds a Docker API request may take.
LOCK_WAIT_S = 30.0  # seconds deploy and rm wait for another operation's stack lock
DOCKER_TIMEOUT_S = 30.0
