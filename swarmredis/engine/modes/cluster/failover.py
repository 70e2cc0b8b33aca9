"""Cluster mode around restarts and after failovers: hand slots to a linked replica with a
coordinated ``CLUSTER FAILOVER`` (no acknowledged write lost), and hand them back.

Before a batch of a rolling update restarts nodes, every restarting node that serves slots
gives them to a linked replica outside the batch (``before_restart``); no primary is
restarted while it serves. After the bootstrap, ``restore_roles`` makes each planned
primary that serves as a linked replica primary again, one shard after the other
(concurrent manual failovers compete for the same config epoch).
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio

from swarmredis.constants import HANDOVER_TIMEOUT_S
from swarmredis.engine.context import RunContext
from swarmredis.engine.events import Event
from swarmredis.engine.modes.base import Action, Handover
from swarmredis.engine.modes.cluster.bootstrap import read_cluster_state
from swarmredis.engine.modes.cluster.members import ClusterMember
from swarmredis.engine.modes.cluster.roles import handover_pairs, restore_candidates
from swarmredis.engine.redis.replies import parse_role
from swarmredis.errors import DeployTimeout, SwarmRedisError
from swarmredis.gateway.redis import RedisAccess, RedisNode


async def before_restart(
    run: RunContext, members: Sequence[ClusterMember], restarting: Sequence[str]
) -> list[Handover]:
    """Move the slots of every restarting primary to a linked replica outside the batch."""
    state = await read_cluster_state(members, run.access, limiter=run.limiter)
    by_name = {m.name: m for m in members}
    handed: list[Handover] = []
    for primary, replica in handover_pairs(restarting, state.views):
        run.report(
            Event("rolling", primary, "start", f"hand its slots to {replica} before the restart")
        )
        await failover_to(by_name[replica], run.access)
        handed.append((primary, replica))
        run.report(Event("rolling", primary, "done", f"{replica} serves its slots now"))
    return handed


async def restore_planned_primaries(
    run: RunContext, members: Sequence[ClusterMember], shards: set[str] | None = None
) -> list[Action]:
    """Make each planned primary that serves as a linked replica primary again (only
    ``shards`` when given). A shard that cannot be handed back is reported and left as it
    is: it still serves. Returns the failovers that completed."""
    state = await read_cluster_state(members, run.access, limiter=run.limiter)
    restored: list[Action] = []
    for member in restore_candidates(members, state.views, shards):
        try:
            await failover_to(member, run.access)
        except SwarmRedisError as error:  # unreachable, refused, or too slow
            run.report(Event("roles", member.name, "info", f"left as a replica: {error.message}"))
            continue
        restored.append(
            Action(member.name, ("CLUSTER", "FAILOVER"), "planned primary takes its shard back")
        )
        run.report(Event("roles", member.name, "done", "serves its slots again"))
    return restored


# Redis gives up a manual failover after 5 s (CLUSTER_MF_TIMEOUT in cluster.h): the
# replica did not catch up with its paused primary in time, or the election did not get
# a majority. Nothing changes then, and nothing says so; CLUSTER FAILOVER is sent again.
MF_ATTEMPT_S = 6.0


async def failover_to(member: ClusterMember, access: RedisAccess) -> int:
    """Coordinated failover to ``member`` (a linked replica); wait until it is primary,
    asking again after each attempt Redis gave up. Returns the attempts it took."""
    async with access.connect(member.name, member.endpoint, server_name=member.server_name) as node:
        attempts = 0
        with anyio.move_on_after(HANDOVER_TIMEOUT_S):
            while True:
                attempts += 1
                await node.execute("CLUSTER", "FAILOVER")
                if await wait_primary(node, MF_ATTEMPT_S):
                    return attempts
        raise DeployTimeout(
            f"{member.name}: CLUSTER FAILOVER did not complete within "
            f"{HANDOVER_TIMEOUT_S:.0f}s ({attempts} attempts)",
            hint="nothing was restarted; see `swarmredis status`, then re-run deploy",
            stage="failover",
        )


async def wait_primary(node: RedisNode, within: float) -> bool:
    """Poll ROLE until the replica took over (a coordinated failover takes ~1 s); whether
    it did within ``within`` seconds."""
    with anyio.move_on_after(within):
        while True:
            if (await node.read(parse_role, "ROLE")).kind == "primary":
                return True
            await anyio.sleep(0.2)
    return False
