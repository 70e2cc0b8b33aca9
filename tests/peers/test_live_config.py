"""Live settings on a real redis-server running the product's redis.conf: every key of
``LIVE_KEYS`` is one Redis sets at run time, ``set_live`` sets and reads back, and the
live settings file that the writer job leaves in the volume survives a restart."""

from __future__ import annotations

import pytest

from swarmredis.engine.context import RunContext
from swarmredis.engine.flows.live import set_live
from swarmredis.engine.redis.verdict import HealthTarget
from swarmredis.errors import RedisError
from swarmredis.gateway.redis import RedisAccess
from swarmredis.plan.liveconf import LIVE_KEYS, live_file, live_text, same_value, static_digest
from swarmredis.plan.redisconf import redis_conf_parts

from .product import STANDALONE, node_of
from .servers import Lab, RedisProcess

pytestmark = pytest.mark.anyio


def start(lab: Lab) -> tuple[RedisProcess, HealthTarget]:
    process = lab.add_node("node-1", STANDALONE)
    return process, HealthTarget("node-1", process.endpoint, "standalone")


async def config_get(access: RedisAccess, target: HealthTarget, key: str) -> str:
    async with access.connect(target.name, target.endpoint) as node:
        reply = await node.execute("CONFIG", "GET", key)
    items = [str(x) for x in reply]
    return dict(zip(items[::2], items[1::2], strict=True))[key]


async def test_every_live_key_is_set_at_run_time_and_read_back(
    lab: Lab, access: RedisAccess
) -> None:
    _, target = start(lab)
    current = {key: await config_get(access, target, key) for key in sorted(LIVE_KEYS)}
    # each key set to what it is: Redis refuses CONFIG SET of a key it cannot change live
    await set_live(RunContext.create(access), target, current)
    for key, value in current.items():
        assert same_value(value, await config_get(access, target, key)), key


async def test_set_live_sets_all_at_once_and_names_a_refused_value(
    lab: Lab, access: RedisAccess
) -> None:
    _, target = start(lab)
    run = RunContext.create(access)
    await set_live(run, target, {"maxmemory": "32mb", "maxmemory-policy": "allkeys-lru"})
    assert await config_get(access, target, "maxmemory") == str(32 * 1024**2)
    assert await config_get(access, target, "maxmemory-policy") == "allkeys-lru"
    with pytest.raises(RedisError) as refused:
        await set_live(run, target, {"hz": "30", "maxmemory-policy": "no-such-policy"})
    assert refused.value.node == "node-1"
    assert await config_get(access, target, "hz") != "30"  # all or nothing


async def test_the_live_file_in_the_volume_outlives_a_restart(
    lab: Lab, access: RedisAccess
) -> None:
    process, target = start(lab)
    _, digest, values = redis_conf_parts(STANDALONE, node_of(STANDALONE, "node-1"))
    assert values["maxmemory"] == str(64 * 1024**2)  # the peers' stack: 64 MiB
    # what the writer job leaves in the node's /data (here the node's folder)
    name = live_file(digest).rsplit("/", 1)[1]
    (process.data / name).write_text(live_text({"maxmemory": str(48 * 1024**2), "hz": "25"}))
    lab.restart("node-1")
    assert await config_get(access, target, "maxmemory") == str(48 * 1024**2)
    assert await config_get(access, target, "hz") == "25"
    # another static part (a new config object) reads another file: not this one
    assert static_digest(["port 0"]) != digest
