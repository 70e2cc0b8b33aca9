"""The pure timing rules of a forming cluster."""

from __future__ import annotations

from swarmredis.engine.modes.cluster.timing import (
    FORMING,
    Timing,
    configured_timing,
    retime_actions,
)


def test_configured_timing_is_redis_defaults_or_the_stacks_sync_delay() -> None:
    assert configured_timing({}) == Timing("15000", "5")
    assert configured_timing({"repl-diskless-sync-delay": "2"}) == Timing("15000", "2")


def test_retime_sets_only_what_differs() -> None:
    current = {
        "node-1": {"cluster-node-timeout": "15000", "repl-diskless-sync-delay": "5"},
        "node-2": {"cluster-node-timeout": "500", "repl-diskless-sync-delay": "5"},
    }
    back = retime_actions(current, Timing("15000", "5"), "as configured")
    assert [(a.node, a.command, a.reason) for a in back] == [
        ("node-2", "CONFIG SET cluster-node-timeout 15000", "as configured")
    ]
    actions = retime_actions(current, FORMING, "forms")
    assert [(a.node, a.command) for a in actions] == [
        ("node-1", "CONFIG SET cluster-node-timeout 500"),
        ("node-1", "CONFIG SET repl-diskless-sync-delay 0"),
        ("node-2", "CONFIG SET repl-diskless-sync-delay 0"),
    ]
