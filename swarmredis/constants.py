"""Numbers used in more than one place, each defined once with its reason.

Everything may import this module: it imports nothing.
"""

from __future__ import annotations

# Redis Cluster's key space: CRC16(key) mod 16384 (cluster.h CLUSTER_SLOTS).
CLUSTER_SLOTS = 16384
# The cluster bus listens on the client port + 10000 unless told otherwise (cluster.c).
BUS_PORT_OFFSET = 10000

# TCP ports the engine of every Swarm host listens on itself (Docker's "open these ports"
# list: 2377 cluster management, 7946 node gossip; 4789 is UDP). A node published on one
# of them binds 0.0.0.0 beside the engine's own address bind, and clients dialling the
# host reach the engine: seen on the lab as "TLS handshake failed: WRONG_VERSION_NUMBER"
# for the node that got 7946.
SWARM_TCP_PORTS = {2377: "cluster management", 7946: "node gossip"}

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
