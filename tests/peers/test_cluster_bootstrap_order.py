"""The streaming deploy's ordering against real TLS redis-server processes: the bootstrap
starts while nodes are still starting. A node that answers late is waited for; a node that
never answers is named, within the wait's bound, and nothing is done to the others."""

from __future__ import annotations

import anyio
import pytest
from testkit import eventually, tls_client

from swarmredis.engine.modes.cluster.bootstrap import bootstrap_cluster, read_cluster_state
from swarmredis.engine.modes.cluster.plan import Condition
from swarmredis.engine.modes.cluster.timing import Timing
from swarmredis.errors import RedisUnreachable
from swarmredis.gateway.redis import RedisAccess
from swarmredis.pki import acl

from .product import CLUSTER, NODE_TIMEOUT_MS
from .servers import Lab, cluster_members

pytestmark = pytest.mark.anyio

CONFIGURED = Timing(str(NODE_TIMEOUT_MS), "no", "0")


async def test_a_node_that_answers_late_is_waited_for(lab: Lab, access: RedisAccess) -> None:
    processes = [lab.add_node(f"node-{i}", CLUSTER) for i in range(1, 6)]
    late = lab.prepare("node-6", CLUSTER)
    members = cluster_members([*processes, late])

    async with anyio.create_task_group() as tg:

        async def start_late() -> None:
            """Once the bootstrap is connected to the others (node-1 shows the engine's
            user; the monitor user looks), start node-6."""
            async with tls_client(processes[0].endpoint, lab.store, acl.MONITOR) as probe:

                async def bootstrap_connected() -> bool:
                    return any(c["user"] == acl.ADMIN for c in await probe.client_list())

                await eventually(bootstrap_connected, what="the bootstrap's connection")
            await anyio.to_thread.run_sync(late.start)

        tg.start_soon(start_late)
        report = await bootstrap_cluster(
            members, access, wait_timeout=30, ready_timeout=20, configured=CONFIGURED
        )
    assert "CLUSTER REPLICATE" in {
        " ".join(a.args[:2]) for a in report.actions if a.node == "node-6"
    }
    state = await read_cluster_state(members, access)
    assert state.condition is Condition.HEALTHY, state.problems


async def test_a_node_that_never_answers_is_named_and_nothing_else_changes(
    lab: Lab, access: RedisAccess
) -> None:
    processes = [lab.add_node(f"node-{i}", CLUSTER) for i in range(1, 6)]
    missing = lab.prepare("node-6", CLUSTER)  # never started
    members = cluster_members([*processes, missing])

    with pytest.raises(RedisUnreachable, match=r"node-6 at 127\.0\.0\.1:\d+: .*still after 3s"):
        await bootstrap_cluster(members, access, wait_timeout=30, ready_timeout=3)
    # ended by its own bound (the message says so), not by the test's timeout
    answering = [m for m in members if m.name != "node-6"]
    state = await read_cluster_state(answering, access)
    assert state.condition is Condition.FRESH  # no MEET, no slot, no setting was sent
