"""Swarm nodes for pure planning tests: ready, active workers h1..hN at 10.0.0.N."""

from __future__ import annotations

from collections.abc import Callable

from swarmredis.plan.observe import SwarmNode


def ready_hosts(
    count: int = 3, node_labels: Callable[[int], dict[str, str]] | None = None
) -> list[SwarmNode]:
    """``count`` ready workers; host i carries ``node_labels(i)`` (none by default)."""
    return [
        SwarmNode(
            id=f"id{i}",
            hostname=f"h{i}",
            role="worker",
            availability="active",
            state="ready",
            addr=f"10.0.0.{i}",
            labels=node_labels(i) if node_labels else {},
        )
        for i in range(1, count + 1)
    ]
