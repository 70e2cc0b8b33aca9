"""Retiring cluster nodes (a lower shard or replica count) with nothing lost.

By the time this runs, the bootstrap's rebalance has moved every slot off the retiring
shards (``moves.serving_primaries`` leaves them out), so a retiring shard serves nothing.
Then, in ``redis-cli --cluster del-node``'s order (``clusterManagerCommandDeleteNode``):

1. a retiring node that still serves a kept shard (a replica a failover promoted, with
   ``--keep-roles``) hands it to a kept replica first (``failover.before_restart``);
2. a retiring node that is a primary must hold no key (``DBSIZE 0``): otherwise nothing
   is forgotten or removed, and the error names the node and the count;
3. a kept node that follows a retiring one (replica migration can move a replica to an
   emptied primary) is pointed at its shard's primary (``CLUSTER REPLICATE``);
4. every kept node forgets every retiring id (``CLUSTER FORGET``), again until none
   lists one: a forgotten id is banned from gossip for 60 s only
   (``CLUSTER_BLACKLIST_TTL``), so all of them are forgotten well within that;
5. the services go (``remove``), and the tables are read once more: an id learned back
   from gossip in the meantime is forgotten again.

A kept node ignores what an unknown sender gossips (only ``MEET`` adds a node), so a
retiring node that still runs until its service is gone cannot bring itself back. A run
killed anywhere in between is finished by the next deploy: the drain is done, the
bootstrap leaves forgotten members out (``plan.still_known``), and this runs again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from swarmredis.engine.context import RunContext
from swarmredis.engine.events import Event
from swarmredis.engine.modes.base import Action, Removal
from swarmredis.engine.modes.cluster.failover import before_restart
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.plan import current_primary
from swarmredis.engine.redis.facts import NodeFacts
from swarmredis.engine.redis.nodes import connect_all, fan_out, wait_until
from swarmredis.engine.redis.probe import read_facts
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import RedisNode

FORGET_WITHIN_S = 30.0  # every kept node forgets every retiring id well inside the 60 s ban


async def retire_members(
    run: RunContext, members: Sequence[ClusterMember], remove: Removal
) -> list[Action]:
    """Drained retiring members out of the cluster, then ``remove`` (module doc)."""
    retiring = [m for m in members if m.retiring]
    kept = [m for m in members if not m.retiring]
    if not retiring:
        await remove()
        return []
    kept_shards = {m.shard for m in kept}
    in_kept = [m.name for m in retiring if m.shard in kept_shards]  # fewer replicas
    handed = await before_restart(run, members, in_kept) if in_kept else []
    actions = [
        Action(given, ("CLUSTER", "FAILOVER"), f"takes {gone}'s slots: {gone} retires")
        for gone, given in handed
    ]
    async with connect_all(members, run.access, limiter=run.limiter) as nodes:
        step = _Retire(run, kept, retiring, nodes)
        views = await step.read(members)
        await step.check_empty(views)
        actions += await step.point_away(views)
        ids = {m.name: views[m.name].node_id for m in retiring}
        actions += await step.forget(ids)
        await remove()
        run.report(Event("retire", ", ".join(ids), "done", "services removed"))
        actions += await step.forget(ids)  # an id gossip brought back meanwhile
    return actions


class _Retire:
    def __init__(
        self,
        run: RunContext,
        kept: Sequence[ClusterMember],
        retiring: Sequence[ClusterMember],
        nodes: Mapping[str, RedisNode],
    ) -> None:
        self.run, self.kept, self.retiring, self.nodes = run, kept, retiring, nodes

    async def read(self, members: Sequence[ClusterMember]) -> dict[str, NodeFacts]:
        async def one(member: ClusterMember) -> NodeFacts:
            return await read_facts(self.nodes[member.name], member.name, cluster=True)

        found = await fan_out(members, one, limiter=self.run.limiter, what="cannot read")
        return {f.name: f for f in found}

    async def check_empty(self, views: Mapping[str, NodeFacts]) -> None:
        """Refuse to go on while a retiring node serves slots or, as a primary, holds keys."""
        for member in self.retiring:
            me = views[member.name].me
            if me.slots:
                raise RedisError(
                    f"{member.name} retires but still serves {me.slot_count} slots",
                    hint="nothing was forgotten or removed; run deploy again to move them",
                )
            if me.is_primary:
                keys = await self.nodes[member.name].read(int, "DBSIZE")
                if keys:
                    raise RedisError(
                        f"{member.name} retires with no slots but holds {keys} keys",
                        hint="nothing was forgotten or removed: look at its keys (they are"
                        " in no slot it serves), then run deploy again",
                    )

    async def point_away(self, views: Mapping[str, NodeFacts]) -> list[Action]:
        """A kept node that follows a retiring one follows its shard's primary again."""
        gone = {views[m.name].node_id: m.name for m in self.retiring}
        actions = []
        for member in self.kept:
            followed = gone.get(views[member.name].me.primary_id or "")
            head = current_primary(member.shard, self.kept, views)
            if followed is None or head is None or head == member.name:
                continue
            args = ("CLUSTER", "REPLICATE", views[head].node_id)
            await self.nodes[member.name].execute(*args)
            actions.append(Action(member.name, args, f"followed {followed}, which retires"))
        return actions

    async def forget(self, ids: Mapping[str, str]) -> list[Action]:
        """FORGET every retiring id on every kept node that lists it, until none does."""
        actions: list[Action] = []
        names = {node_id: name for name, node_id in ids.items()}

        async def pending() -> list[str]:
            views = await self.read(self.kept)
            listed = {
                m.name: [n.node_id for n in views[m.name].cluster_nodes if n.node_id in names]
                for m in self.kept
            }

            async def one(viewer: str) -> None:  # one connection each: in turn
                for node_id in listed[viewer]:
                    args = ("CLUSTER", "FORGET", node_id)
                    try:
                        await self.nodes[viewer].execute(*args)
                    except RedisError as error:
                        if "Unknown node" not in error.message:  # forgotten meanwhile: done
                            raise
                    actions.append(Action(viewer, args, f"{names[node_id]} retires"))

            await fan_out([v for v in listed if listed[v]], one, limiter=self.run.limiter)
            return [f"{v} still lists {names[i]}" for v, found in listed.items() for i in found]

        await wait_until(pending, within=FORGET_WITHIN_S, what="retired nodes forgotten")
        return actions
