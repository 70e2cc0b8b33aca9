"""`swarmredis nodes`: the Swarm's nodes, as the planner sees them."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from swarmredis.cli.common import (
    DOCKER_HOST_OPTION,
    JSON_OPTION,
    Command,
    console,
    print_json,
    run,
)

if TYPE_CHECKING:
    from swarmredis.plan.observe import SwarmNode


async def fetch_nodes(docker_host: str | None) -> list[SwarmNode]:
    """Read every Swarm node through a manager, sorted by hostname."""
    from swarmredis.gateway.docker import DockerGateway
    from swarmredis.plan.observe import swarm_node

    async with DockerGateway.connect(docker_host) as gateway:
        await gateway.require_manager()
        raw = await gateway.nodes()
    return sorted((swarm_node(item) for item in raw), key=lambda n: (n.hostname, n.id))


def render_nodes(nodes: list[SwarmNode]) -> Table:
    """A rich table of nodes."""
    table = Table(title=f"Swarm nodes ({len(nodes)})")
    columns = ("hostname", "id", "role", "availability", "state", "address", "labels", "engine")
    for column in columns:
        table.add_column(column)
    for node in nodes:
        node_labels = ", ".join(f"{k}={v}" for k, v in sorted(node.labels.items()))
        table.add_row(
            node.hostname,
            node.id[:12],
            node.role,
            node.availability,
            node.state,
            node.addr,
            node_labels,
            node.engine_version,
        )
    return table


def register(app: typer.Typer) -> None:
    """Add `nodes` to the app."""

    @app.command("nodes", cls=Command)
    def nodes(
        as_json: bool = JSON_OPTION,
        docker_host: str | None = DOCKER_HOST_OPTION,
    ) -> None:
        """List the Swarm's nodes: hostname, id, role, availability, state, address, labels."""
        result = run(lambda: fetch_nodes(docker_host))
        if as_json:
            print_json([asdict(node) for node in result])
        else:
            console.print(render_nodes(result))
