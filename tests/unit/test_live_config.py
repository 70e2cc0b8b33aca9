"""Live settings (pure): which redis.conf changes need no restart, and how the plan says so."""

from __future__ import annotations

from typing import Any

import pytest

from swarmredis import labels
from swarmredis.plan import desired_state, diff, place, required_material
from swarmredis.plan.diff import Plan
from swarmredis.plan.liveconf import (
    arrange,
    decode,
    encode,
    live_file,
    live_job,
    same_value,
)
from swarmredis.plan.observe import ObservedObject, SwarmNode
from swarmredis.plan.state import DesiredState
from swarmredis.stackfile.model import Stack

NODES = [
    SwarmNode(f"id{i}", f"h{i}", "worker", "active", "ready", f"10.0.0.{i}") for i in (1, 2, 3)
]


def stack(**fields: Any) -> Stack:
    counts = {"shards": 3} if fields.get("mode", "cluster") == "cluster" else {}
    return Stack.model_validate({"name": "acme", "replicas": 1, **counts, **fields})


def state(of: Stack) -> DesiredState:
    material = {name: name.encode() for name in required_material(of)}
    return desired_state(of, place(of, NODES), material)


def deployed(of: DesiredState) -> list[ObservedObject]:
    """The objects ``of`` would leave on the Swarm, as the gateway reads them back."""
    out = []
    for obj in of.objects():
        assert obj.spec is not None
        out.append(
            ObservedObject(obj.kind, f"id-{obj.name}", obj.name, 1, obj.spec["Labels"], obj.spec)
        )
    return out


def services(plan: Plan) -> dict[str, str]:
    return {c.logical: c.action for c in plan.items if c.kind == "service"}


def test_live_lines_come_last_then_the_include_of_the_live_file() -> None:
    text, digest, live = arrange(["port 0", "maxmemory 100", "save 60 1", "hz 20"])
    assert text.splitlines() == [
        "port 0",
        "save 60 1",
        "maxmemory 100",
        "hz 20",
        f"include /data/live-{digest}*.conf",
    ]
    assert live == {"maxmemory": "100", "hz": "20"}
    assert live_file(digest) == f"/data/live-{digest}.conf"
    assert arrange(["port 0", "maxmemory 5", "save 60 1"])[1] == digest  # same static part
    assert arrange(["port 1", "maxmemory 100", "save 60 1"])[1] != digest


@pytest.mark.parametrize(
    ("wanted", "got", "same"),
    [
        ("allkeys-lru", "allkeys-lru", True),
        ("1mb", "1048576", True),
        ("64kb", "65536", True),
        ("1m", "1000000", True),  # Redis: m is a million, mb 1024^2
        ("1m", "1048576", False),
        ("2GB", "2147483648", True),
        ("yes", "yes", True),
        ("100", "101", False),
        ("allkeys-lru", "allkeys-lfu", False),
    ],
)
def test_config_get_answers_are_compared_as_redis_normalises_them(
    wanted: str, got: str, same: bool
) -> None:
    assert same_value(wanted, got) is same


def test_live_label_round_trips_and_garbage_reads_as_nothing() -> None:
    assert decode(encode({"b": "2", "a": "1"})) == {"a": "1", "b": "2"}
    assert encode({"b": "2", "a": "1"}) == '{"a":"1","b":"2"}'
    assert decode("not json") == {} and decode('["x"]') == {} and decode(None) == {}


def test_a_maxmemory_change_is_live_and_keeps_every_config() -> None:
    before = state(stack())
    plan = diff(state(stack(resources={"maxmemory_ratio": 0.5})), deployed(before))
    assert set(services(plan).values()) == {"live"}
    assert all(c.action == "noop" for c in plan.items if c.kind == "config")
    change = next(c for c in plan.items if c.logical == "node-1")
    assert change.fields == (f"Labels.{labels.CONFIG_LIVE}",)
    assert change.live == (f"maxmemory {int(512 * 1024**2 * 0.75)} -> {256 * 1024**2}",)
    assert "no restart" in change.reason


def test_a_live_change_with_a_restart_sets_them_before_the_restart() -> None:
    before = state(stack())
    after = stack(resources={"maxmemory_ratio": 0.5, "memory": "1G"})
    plan = diff(state(after), deployed(before))
    change = next(c for c in plan.items if c.logical == "node-1")
    assert change.action == "update" and change.live  # the node keeps its config object
    assert "TaskTemplate.Resources.Limits.MemoryBytes" in change.fields
    assert all(c.action == "noop" for c in plan.items if c.kind == "config")


def test_a_static_change_makes_new_configs_and_restarts() -> None:
    before = state(stack())
    plan = diff(state(stack(config={"hz": 20, "databases": 4})), deployed(before))
    assert set(services(plan).values()) == {"update"}
    assert all(not c.live for c in plan.items)  # the new config carries every value
    assert {c.action for c in plan.items if c.kind == "config"} == {"create", "remove"}


def test_a_live_change_after_a_live_change_keeps_the_first_config() -> None:
    """The deployed services still mount the config made before both changes."""
    first = state(stack())
    second = diff(state(stack(resources={"maxmemory_ratio": 0.5})), deployed(first))
    live = deployed(second.desired)  # what the first live change left (labels only)
    third = diff(state(stack(resources={"maxmemory_ratio": 0.6}, config={"hz": 15})), live)
    assert set(services(third).values()) == {"live"}
    assert diff(state(stack(resources={"maxmemory_ratio": 0.5})), live).changes == 0


def test_sentinels_have_no_live_settings() -> None:
    of = state(stack(mode="replication", replicas=2))
    for service in of.services:
        assert service.spec is not None
        found = service.spec["Labels"]
        assert (labels.CONFIG_LIVE in found) is (found[labels.ROLE] == "redis")


def test_the_live_job_writes_each_file_with_sh_alone() -> None:
    body = live_job(
        "acme", "id1", "redis:7.0", "999:999", [("acme_data-1", "/data/live-ab.conf", {"hz": "20"})]
    )
    container = body["TaskTemplate"]["ContainerSpec"]
    assert container["Mounts"] == [{"Type": "volume", "Source": "acme_data-1", "Target": "/v/0"}]
    assert container["Env"] == ["SWARMREDIS_LIVE_0=hz 20\n"]
    assert 'printf "%s" "$SWARMREDIS_LIVE_0" > /v/0/live-ab.conf' in container["Command"][2]
    assert body["TaskTemplate"]["Placement"]["Constraints"] == ["node.id==id1"]
    assert body["Mode"] == {"GlobalJob": {}}


def test_a_live_setting_no_longer_set_takes_a_new_config_and_a_restart() -> None:
    """Redis has no "back to the default": the new config leaves it out, and the live file
    (rewritten before the restart) too."""
    before = state(stack(config={"hz": 20, "slowlog-max-len": 256}))
    plan = diff(state(stack(config={"slowlog-max-len": 256})), deployed(before))
    change = next(c for c in plan.items if c.logical == "node-1")
    assert change.action == "update"
    assert change.live == ("hz 20 -> (default)",)
    assert "TaskTemplate.ContainerSpec.Configs[0].ConfigName" in change.fields
    assert {c.action for c in plan.items if c.kind == "config"} == {"create", "remove"}
