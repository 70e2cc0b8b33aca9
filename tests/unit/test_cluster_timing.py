"""The pure timing rules of a forming cluster."""

from __future__ import annotations

from swarmredis.engine.modes.cluster.timing import (
    FORMING,
    Timing,
    configured_timing,
    retime_actions,
    window_left_open,
)


def test_configured_timing_is_redis_defaults_or_the_stacks_sync_delay() -> None:
    assert configured_timing({}) == Timing("15000", "no", "5")
    assert configured_timing({"repl-diskless-sync-delay": "2"}) == Timing("15000", "no", "2")


def test_closing_the_window_puts_the_node_timeout_back_before_allowing_failovers() -> None:
    assert configured_timing({}).closing() == Timing("15000", "yes", "0")
    assert Timing("500", "yes", "0") == FORMING


def test_retime_sets_only_what_differs_in_order() -> None:
    configured = configured_timing({})
    current = {
        "node-1": configured.settings(),
        "node-2": {**configured.settings(), "cluster-node-timeout": "500"},
    }
    back = retime_actions(current, configured, "as configured")
    assert [(a.node, a.command, a.reason) for a in back] == [
        ("node-2", "CONFIG SET cluster-node-timeout 15000", "as configured")
    ]
    actions = retime_actions(current, FORMING, "forms")
    assert [(a.node, a.command) for a in actions] == [
        ("node-1", "CONFIG SET cluster-node-timeout 500"),
        ("node-1", "CONFIG SET cluster-replica-no-failover yes"),
        ("node-1", "CONFIG SET repl-diskless-sync-delay 0"),
        ("node-2", "CONFIG SET cluster-replica-no-failover yes"),
        ("node-2", "CONFIG SET repl-diskless-sync-delay 0"),
    ]


def test_a_window_left_open_shows_in_a_nodes_settings() -> None:
    assert window_left_open(configured_timing({}).settings()) == []
    assert window_left_open({"cluster-node-timeout": "2000"}) == []  # not the window's value
    assert window_left_open(FORMING.settings()) == [
        "automatic failover is off (cluster-replica-no-failover yes)",
        "cluster-node-timeout is 500 ms",
    ]
