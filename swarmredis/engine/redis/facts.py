"""What one Redis node or Sentinel says about itself: the one record of a node's facts (pure).

``engine.redis.probe.read_facts`` reads it (INFO, ROLE, and in cluster mode CLUSTER
MYID/NODES/INFO, on a Sentinel SENTINEL MASTER, REPLICAS and CKQUORUM); bootstrap, handovers and
health all judge the same record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from swarmredis.engine.redis.replies import ClusterInfo, ClusterNode, Role, myself


@dataclass(frozen=True)
class NodeFacts:
    """One node's answers, parsed. ``info`` is the whole INFO reply."""

    name: str
    info: Mapping[str, str]
    role: Role
    node_id: str = ""  # CLUSTER MYID (cluster mode)
    cluster_nodes: tuple[ClusterNode, ...] = ()
    cluster_info: ClusterInfo | None = None
    sentinel: Mapping[str, str] = field(default_factory=dict)  # SENTINEL MASTER (sentinels)
    quorum_error: str | None = None  # SENTINEL CKQUORUM's refusal, if it refused
    # SENTINEL REPLICAS (sentinels): the replicas it knows, as it sees them
    sentinel_replicas: tuple[Mapping[str, str], ...] = ()
    settings: Mapping[str, str] = field(default_factory=dict)  # CONFIG GET, when asked

    @property
    def run_id(self) -> str:
        return self.info.get("run_id", "")

    @property
    def link_up(self) -> bool:
        """A replica whose link to its primary is up."""
        return self.info.get("master_link_status") == "up"

    @property
    def own_entry(self) -> ClusterNode | None:
        """The ``myself`` line of CLUSTER NODES, if this is a cluster node."""
        return myself(self.cluster_nodes)

    @property
    def me(self) -> ClusterNode:
        """The ``myself`` line of CLUSTER NODES (cluster mode only)."""
        entry = self.own_entry
        if entry is None:
            raise ValueError(f"{self.name}: no CLUSTER NODES facts (not read in cluster mode)")
        return entry

    @property
    def cluster(self) -> ClusterInfo:
        """CLUSTER INFO (cluster mode only)."""
        if self.cluster_info is None:
            raise ValueError(f"{self.name}: no CLUSTER INFO facts (not read in cluster mode)")
        return self.cluster_info

    def entry(self, node_id: str) -> ClusterNode | None:
        """How this node sees the cluster node with this id, if it knows it."""
        return next((n for n in self.cluster_nodes if n.node_id == node_id), None)

    @property
    def alone(self) -> bool:
        """A cluster node that knows no other node and serves no slot (fresh)."""
        return len(self.cluster_nodes) == 1 and not self.me.slots
