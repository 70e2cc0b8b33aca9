"""A node's memory fills up to maxmemory, under its container's limit, on the lab.

With ``noeviction`` the node refuses writes with OOM and keeps every key it had; with
``allkeys-lru`` it evicts and keeps taking writes. Either way the container is not
OOM-killed (maxmemory is a share of the container limit, resources.maxmemory_ratio) and
`status` reports the node degraded with a memory problem. Figures in docs/reliability.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.exceptions

from .conftest import SwarmLab
from .faults import Figure, node_client, record
from .helpers import DeployedStack, deployed_stack

VALUE = "x" * 100_000  # 100 kB values: a 48 MiB maxmemory fills in about 500 writes


@pytest.fixture(params=["noeviction", "allkeys-lru"])
def cache(
    swarm_lab: SwarmLab, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[DeployedStack]:
    policy = request.param
    name, port = ("itmem", 8300) if policy == "noeviction" else ("itmeml", 8310)
    resources = {"memory": "64M", "cpus": 0.5, "maxmemory_ratio": 0.75}
    config = {"maxmemory-policy": policy}
    with deployed_stack(
        swarm_lab, tmp_path, "standalone", name, port, resources=resources, config=config
    ) as d:
        yield d


def container_state(d: DeployedStack) -> dict[str, object]:
    """State of the node's task container on its host: OOMKilled, restarts, start time."""
    _, report = d.status()
    k = int(report["nodes"][0]["host"].removeprefix("lab-h"))
    ids = d.lab.docker(
        k, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={d.stack}_node-1"
    ).split()
    assert len(ids) == 1, ids
    state = json.loads(d.lab.docker(k, "inspect", "--format", "{{json .State}}", ids[0]))
    return {"id": ids[0], "oom_killed": state["OOMKilled"], "started": state["StartedAt"]}


@pytest.mark.anyio
async def test_a_node_at_maxmemory_refuses_or_evicts_and_is_not_oom_killed(
    cache: DeployedStack,
) -> None:
    d = cache
    policy = "noeviction" if d.stack == "itmem" else "allkeys-lru"
    before = container_state(d)
    _, report = d.status()
    node = report["nodes"][0]
    host, port = node["endpoint"].rsplit(":", 1)
    client = node_client(d.certs, d.stack, (host, int(port)), "swarmredis-admin", timeout=10)
    accepted, refused = 0, None
    started = time.monotonic()
    try:
        for i in range(2000):  # bounded: 200 MB offered to a 48 MiB maxmemory
            try:
                await client.set(f"fill:{i}", VALUE)
                accepted += 1
            except redis.exceptions.OutOfMemoryError as error:  # the "OOM" reply
                refused = str(error)
                break
        info = await client.info("all")
        dbsize = await client.dbsize()
    finally:
        await client.aclose()
    filled = time.monotonic() - started
    code, report = d.status()
    problems = [p for p in report["problems"] if p["kind"] == "memory"]
    after = container_state(d)
    figure = Figure(
        f"standalone: memory full ({policy})",
        "standalone",
        f"writes of 100 kB values until the node's maxmemory (48 MiB of a 64 MiB container "
        f"limit), maxmemory-policy {policy}",
    )
    figure.confirmed = accepted
    if policy == "noeviction":
        assert refused == "command not allowed when used memory > 'maxmemory'.", refused
        assert dbsize == accepted  # every write it accepted is still there
        figure.notes.append(
            f"refused the write after {accepted} (OOM {refused}); all {dbsize} accepted keys kept"
        )
    else:
        assert refused is None and accepted == 2000, refused
        assert int(info["evicted_keys"]) > 0 and dbsize < accepted
        figure.notes.append(
            f"took all {accepted} writes, evicting {info['evicted_keys']}; {dbsize} keys left"
        )
    assert after == before, "the container was restarted or OOM-killed"
    assert after["oom_killed"] is False
    assert code == 1 and problems, report["problems"]
    assert problems[0]["node"] == "node-1" and "of maxmemory" in problems[0]["message"]
    figure.notes.append(
        f"full after {filled:.1f} s of writes; not OOM-killed (same container, OOMKilled "
        f"false); status exit 1: {problems[0]['message']}"
    )
    record(figure)
