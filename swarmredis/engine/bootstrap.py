"""Bootstrap by the engine itself (no ``redis-cli --cluster``): cluster, replication, standalone.

Cluster: read every member's view concurrently, classify it (``engine.clusterplan``), run
only what is missing (fresh: config epochs, MEET, ADDSLOTSRANGE, REPLICATE), re-reading
between phases, then wait until every node is in, every slot is served, all nodes agree
on the configuration and every replica's link is up. An existing cluster is never reset.
Replication: replicas are configured by their files, so this verifies them and the
Sentinels; the one repair is a node that came back as a second primary (a planned primary
restarted after a failover), which is pointed at the primary every Sentinel names, as
Sentinel itself would some seconds later. Standalone: the node answers as a primary.
Every wait is bounded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from swarmredis.engine.clusterplan import (
    Action,
    ClusterMember,
    ClusterState,
    Condition,
    NodeView,
    classify,
    final_pending,
    gossip_pending,
    plan_forget,
    plan_meets,
    plan_replicas,
    plan_slots,
    validate_members,
)
from swarmredis.engine.redisinfo import (
    Role,
    parse_cluster_info,
    parse_cluster_nodes,
    parse_info,
    parse_pairs,
    parse_role,
)
from swarmredis.engine.redisnodes import DEFAULT_CONCURRENCY, connect_all, fan_out, poll_until
from swarmredis.errors import RedisError, SwarmRedisError
from swarmredis.gateway.redis import RedisAccess, RedisEndpoint, RedisNode

GOSSIP_PATIENCE = 3.0  # seconds of waiting for gossip before meeting stragglers directly


@dataclass
class BootstrapReport:
    """What bootstrap did (``actions``) and what it saw but left alone (``notes``)."""

    mode: str
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return not self.actions

    def lines(self) -> list[str]:
        """Lines for people: the actions, or "nothing to do", then the notes."""
        done = [str(a) for a in self.actions] or ["nothing to do"]
        return done + [f"note: {n}" for n in self.notes]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "mode": self.mode,
            "actions": [
                {"node": a.node, "command": a.command, "reason": a.reason} for a in self.actions
            ],
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------- reading


async def _read_view(member: ClusterMember, node: RedisNode) -> NodeView:
    myid = await node.cluster_myid()
    nodes = parse_cluster_nodes(await node.cluster_nodes())
    info = parse_cluster_info(await node.cluster_info())
    replication = parse_info(await node.info("replication"))
    return NodeView(member, myid, nodes, info, replication)


async def _read_views(
    members: Sequence[ClusterMember], nodes: Mapping[str, RedisNode], limiter: anyio.CapacityLimiter
) -> dict[str, NodeView]:
    async def read(member: ClusterMember) -> NodeView:
        return await _read_view(member, nodes[member.name])

    views = await fan_out(members, read, limiter=limiter, what="cannot read cluster state")
    return {v.member.name: v for v in views}


async def read_cluster_state(
    members: Sequence[ClusterMember],
    access: RedisAccess,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    ready_timeout: float = 30.0,
) -> ClusterState:
    """Connect to every member concurrently, read its view, and classify the cluster."""
    limiter = anyio.CapacityLimiter(concurrency)
    async with connect_all(members, access, limiter=limiter, ready_timeout=ready_timeout) as nodes:
        views = await _read_views(members, nodes, limiter)
    return classify(members, views)


# ---------------------------------------------------------------- acting


def _config_epochs(members: Sequence[ClusterMember]) -> list[Action]:
    """Distinct config epochs for the primaries of a fresh cluster (no epoch collisions)."""
    primaries = [m for m in members if m.role == "primary"]
    return [
        Action(m.name, ("CLUSTER", "SET-CONFIG-EPOCH", str(i)), "fresh cluster")
        for i, m in enumerate(primaries, start=1)
    ]


@dataclass
class _ClusterRun:
    """One bootstrap: the members, their connections, and the report being written."""

    members: Sequence[ClusterMember]
    nodes: Mapping[str, RedisNode]
    limiter: anyio.CapacityLimiter
    wait_timeout: float
    report: BootstrapReport = field(default_factory=lambda: BootstrapReport("cluster"))

    async def read(self) -> dict[str, NodeView]:
        return await _read_views(self.members, self.nodes, self.limiter)

    async def act(self, actions: Sequence[Action]) -> None:
        """Run actions: one node's in order, different nodes concurrently."""
        by_node: dict[str, list[Action]] = {}
        for action in actions:
            by_node.setdefault(action.node, []).append(action)

        async def run(node_actions: list[Action]) -> None:
            for action in node_actions:
                await self.nodes[action.node].execute(*action.args)
                self.report.actions.append(action)

        await fan_out(
            list(by_node.values()), run, limiter=self.limiter, what="bootstrap commands failed"
        )

    async def meet(self) -> None:
        """Refuse a foreign cluster; then (fresh: epochs and) MEETs, and wait for gossip."""
        state = classify(self.members, await self.read())
        if state.condition is Condition.CONFLICTING:
            raise RedisError(
                "refusing to bootstrap: " + "; ".join(state.problems),
                hint="these nodes belong to another cluster; nothing was changed",
            )
        if state.condition is Condition.FRESH:
            await self.act(_config_epochs(self.members))
        await self.act(plan_meets(self.members, state.views))
        nudged = anyio.current_time()

        async def gossip() -> list[str]:
            nonlocal nudged
            views = await self.read()
            pending = gossip_pending(self.members, views)
            if pending and anyio.current_time() - nudged > GOSSIP_PATIENCE:
                await self.act(plan_meets(self.members, views, direct=True))
                nudged = anyio.current_time()
            return pending

        await poll_until(gossip, within=self.wait_timeout, what="cluster nodes meeting")

    async def assign(self) -> None:
        """Slots nobody serves to their shard, then replicas to their shard's primary."""
        slot_actions, lost = plan_slots(self.members, await self.read())
        await self.act(slot_actions)
        replica_actions, notes = plan_replicas(self.members, await self.read())
        await self.act(replica_actions)
        self.report.notes.extend(notes)
        if lost:
            done = "; ".join(str(a) for a in self.report.actions) or "nothing"
            raise RedisError(
                "cluster cannot be completed: " + "; ".join(lost), hint=f"done so far: {done}"
            )

    async def settle(self) -> None:
        """Wait for state ok, full coverage, agreement and replica links."""

        async def whole() -> list[str]:
            return final_pending(self.members, await self.read())

        await poll_until(whole, within=self.wait_timeout, what="cluster state ok")

    async def forget_ghosts(self) -> None:
        """Forget old ids of replaced nodes on every member, within one run: Redis
        re-learns a forgotten id from any node still knowing it after its 60 s ban."""
        await self.act(plan_forget(self.members, await self.read()))


async def bootstrap_cluster(
    members: Sequence[ClusterMember],
    access: RedisAccess,
    *,
    wait_timeout: float = 120.0,
    ready_timeout: float = 60.0,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> BootstrapReport:
    """Bring the cluster to its plan: create it if fresh, else add only what is missing.

    Raises RedisError for a conflicting cluster (touching nothing), DeployTimeout if a wait
    runs out, RedisUnreachable/RedisError (grouped) for nodes that fail. Each wait is
    bounded by ``wait_timeout``; connecting by ``ready_timeout``.
    """
    validate_members(members)
    limiter = anyio.CapacityLimiter(concurrency)
    async with connect_all(members, access, limiter=limiter, ready_timeout=ready_timeout) as nodes:
        run = _ClusterRun(members, nodes, limiter, wait_timeout)
        await run.meet()
        await run.assign()
        await run.settle()
        await run.forget_ghosts()
    return run.report


# ---------------------------------------------------------------- replication, standalone


@dataclass(frozen=True)
class RedisMember:
    """A data node or Sentinel outside cluster mode: a name and where the engine dials it."""

    name: str
    endpoint: RedisEndpoint
    server_name: str | None = None


@dataclass(frozen=True)
class DataView:
    name: str
    role: Role
    replication: Mapping[str, str]
    run_id: str


async def read_data(member: RedisMember, node: RedisNode) -> DataView:
    role = parse_role(await node.role())
    info = parse_info(await node.info())
    return DataView(member.name, role, info, info.get("run_id", ""))


def _is_linked(view: DataView, primary: DataView) -> bool:
    return (
        view is not primary
        and view.role.kind == "replica"
        and view.replication.get("master_link_status") == "up"
        and view.replication.get("master_replid") == primary.replication.get("master_replid")
    )


def linked_replicas(views: Sequence[DataView]) -> tuple[DataView | None, list[str]]:
    """The one current primary (None unless exactly one) and its linked replicas (pure)."""
    primaries = [v for v in views if v.role.kind == "primary"]
    if len(primaries) != 1:
        return None, []
    return primaries[0], [v.name for v in views if _is_linked(v, primaries[0])]


def replication_pending(views: Sequence[DataView]) -> tuple[DataView | None, list[str]]:
    """The one current primary (or None) and what keeps the replicas from being linked."""
    primary, linked = linked_replicas(views)
    if primary is None:
        names = ", ".join(v.name for v in views if v.role.kind == "primary") or "none"
        return None, [f"expected exactly one primary, found {names}"]
    return primary, [
        f"{v.name}: not yet a linked replica of {primary.name}"
        f" (role {v.role.kind}, link {v.replication.get('master_link_status', 'down')})"
        for v in views
        if v is not primary and v.name not in linked
    ]


def stray_primaries(
    views: Sequence[DataView], sentinel_masters: Sequence[Mapping[str, str]]
) -> tuple[DataView | None, list[DataView]]:
    """The primary every Sentinel names and the other primaries (pure).

    Only when all Sentinels name the same address, see it as a plain ``master`` (not
    down), the ones that know its run id (a Sentinel learns it from INFO, every 10 s)
    agree on it, and that node is a primary: otherwise ``(None, [])``, touch nothing.
    """
    addresses = {(m.get("ip"), m.get("port")) for m in sentinel_masters}
    run_ids = {m.get("runid") for m in sentinel_masters} - {None, ""}
    if (
        len(addresses) != 1
        or len(run_ids) != 1
        or any(m.get("flags") != "master" for m in sentinel_masters)
    ):
        return None, []
    named = next((v for v in views if v.run_id in run_ids and v.role.kind == "primary"), None)
    if named is None:
        return None, []
    return named, [v for v in views if v.role.kind == "primary" and v is not named]


async def _demote_strays(
    data: Sequence[RedisMember],
    nodes: Mapping[str, RedisNode],
    sentinels: Sequence[RedisMember],
    sentinel_nodes: Mapping[str, RedisNode],
    master_name: str,
    limiter: anyio.CapacityLimiter,
) -> list[Action]:
    """REPLICAOF the Sentinels' primary on every other node that answers as a primary."""
    views = await fan_out(data, lambda m: read_data(m, nodes[m.name]), limiter=limiter)

    async def master(sentinel: RedisMember) -> dict[str, str]:
        try:
            return parse_pairs(
                await sentinel_nodes[sentinel.name].execute("SENTINEL", "MASTER", master_name)
            )
        except SwarmRedisError:  # e.g. not monitoring yet: no consensus, touch nothing
            return {}

    masters = await fan_out(sentinels, master, limiter=limiter)
    named, strays = stray_primaries(views, masters)
    if named is None:
        return []
    address = (masters[0]["ip"], masters[0]["port"])
    actions = [
        Action(
            v.name, ("REPLICAOF", *address), f"a second primary; every sentinel names {named.name}"
        )
        for v in strays
    ]
    for action in actions:
        await nodes[action.node].execute(*action.args)
    return actions


async def _sentinel_pending(
    sentinel: RedisMember, node: RedisNode, master_name: str, primary: DataView, expected: int
) -> list[str]:
    """What this Sentinel does not see yet: the primary, the other Sentinels, a quorum."""
    fields = parse_pairs(await node.execute("SENTINEL", "MASTER", master_name))
    flags = set(fields.get("flags", "").split(","))
    pending = []
    if fields.get("runid") != primary.run_id:
        pending.append(f"{sentinel.name}: does not see {primary.name} as {master_name} yet")
    if flags & {"s_down", "o_down", "disconnected"}:
        pending.append(f"{sentinel.name}: sees {master_name} as {fields.get('flags')}")
    if int(fields.get("num-other-sentinels", "0")) < expected - 1:
        pending.append(
            f"{sentinel.name}: knows {fields.get('num-other-sentinels')} of"
            f" {expected - 1} other sentinels"
        )
    try:
        await node.execute("SENTINEL", "CKQUORUM", master_name)
    except RedisError as error:
        pending.append(f"{sentinel.name}: {error.message}")
    return pending


async def _wait_linked(
    data: Sequence[RedisMember],
    nodes: Mapping[str, RedisNode],
    limiter: anyio.CapacityLimiter,
    wait_timeout: float,
) -> DataView:
    """Wait for one primary with every other data node its linked replica; return it."""
    current: list[DataView] = []

    async def linked() -> list[str]:
        views = await fan_out(data, lambda m: read_data(m, nodes[m.name]), limiter=limiter)
        serving, pending = replication_pending(views)
        current[:] = [serving] if serving else []
        return pending

    await poll_until(linked, within=wait_timeout, what="replicas linked")
    return current[0]


async def _wait_sentinels(
    sentinels: Sequence[RedisMember],
    nodes: Mapping[str, RedisNode],
    master_name: str,
    primary: DataView,
    limiter: anyio.CapacityLimiter,
    wait_timeout: float,
) -> None:
    """Wait until every Sentinel sees the primary, the other Sentinels and a quorum."""

    async def one(sentinel: RedisMember) -> list[str]:
        return await _sentinel_pending(
            sentinel, nodes[sentinel.name], master_name, primary, len(sentinels)
        )

    async def watched() -> list[str]:
        return [p for ps in await fan_out(sentinels, one, limiter=limiter) for p in ps]

    await poll_until(watched, within=wait_timeout, what="sentinels agree")


async def bootstrap_replication(
    primary: RedisMember,
    replicas: Sequence[RedisMember],
    sentinels: Sequence[RedisMember],
    access: RedisAccess,
    *,
    master_name: str,
    sentinel_access: RedisAccess | None = None,
    wait_timeout: float = 60.0,
    ready_timeout: float = 60.0,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> BootstrapReport:
    """Verify a primary+replicas+Sentinel deployment (configured by its files).

    Waits until exactly one data node is primary and every other one is its linked replica,
    and every Sentinel sees that primary, the other Sentinels, and a quorum. A failover
    (another node is primary now) is reported in the notes, not undone.
    """
    limiter = anyio.CapacityLimiter(concurrency)
    data = [primary, *replicas]
    async with (
        connect_all(data, access, limiter=limiter, ready_timeout=ready_timeout) as nodes,
        connect_all(
            sentinels, sentinel_access or access, limiter=limiter, ready_timeout=ready_timeout
        ) as sentinel_nodes,
    ):
        repaired = await _demote_strays(
            data, nodes, sentinels, sentinel_nodes, master_name, limiter
        )
        serving = await _wait_linked(data, nodes, limiter, wait_timeout)
        await _wait_sentinels(
            sentinels, sentinel_nodes, master_name, serving, limiter, wait_timeout
        )
    report = BootstrapReport("replication", actions=repaired)
    if serving.name != primary.name:
        report.notes.append(f"failover: {serving.name} is primary (planned {primary.name})")
    report.notes.append(
        f"{serving.name} primary with {len(replicas)} linked replicas,"
        f" {len(sentinels)} sentinels see it with a quorum"
    )
    return report


async def bootstrap_standalone(
    node: RedisMember, access: RedisAccess, *, ready_timeout: float = 60.0
) -> BootstrapReport:
    """Check that a standalone node answers PING and is a primary."""
    limiter = anyio.CapacityLimiter(1)
    async with connect_all([node], access, limiter=limiter, ready_timeout=ready_timeout) as nodes:
        await nodes[node.name].ping()
        role = parse_role(await nodes[node.name].role())
    if role.kind != "primary":
        raise RedisError(f"{node.name} at {node.endpoint}: is a {role.kind}, expected a primary")
    return BootstrapReport("standalone", notes=[f"{node.name} answers as primary"])
