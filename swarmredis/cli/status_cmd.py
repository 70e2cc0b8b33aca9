"""`swarmredis status`: every node's health and the cluster's, as a table or JSON."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from swarmredis.cli.common import (
    CERTS_DIR_OPTION,
    DOCKER_HOST_OPTION,
    JSON_WATCH_OPTION,
    Command,
    console,
    flag,
    print_json,
    print_json_line,
    run,
    stack_file_arg,
)

if TYPE_CHECKING:
    from swarmredis.engine.redis.verdict import HealthReport

_COLOR = {"healthy": "green", "degraded": "yellow", "down": "red"}


def stack_name(arg: str) -> str:
    """A stack name, or the name inside a stack file given by path."""
    path = stack_file_arg(arg)
    if path is None:
        return arg
    from swarmredis.stackfile import load_stack

    return load_stack(path).name


async def fetch_status(
    docker_host: str | None, stack: str, certs_dir: Path, node_timeout: float
) -> HealthReport:
    """One health check of ``stack``."""
    from swarmredis.engine.flows.status import status
    from swarmredis.gateway.docker import DockerGateway
    from swarmredis.pki.store import CertStore

    async with DockerGateway.connect(docker_host) as gateway:
        return await status(gateway, stack, CertStore(certs_dir, stack), node_timeout=node_timeout)


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.1f}M"


def render(report: HealthReport) -> Group:
    """A table of nodes, the cluster line and the problems."""
    color = _COLOR[report.status.value]
    table = Table(title=f"{report.stack} ({report.mode}): [{color}]{report.status.value}[/]")
    for column in (
        "node",
        "role",
        "host",
        "task",
        "endpoint",
        "conn",
        "link/lag",
        "slots",
        "memory",
        "uptime",
    ):
        table.add_column(column)
    for n in report.nodes:
        conn = "ok" if n.auth_ok else ("auth?" if n.tls_ok else "tls?" if n.reachable else "down")
        role = n.role or "?"
        if n.role and n.planned_role not in (n.role, "standalone"):
            role += f" (planned {n.planned_role})"
        link = "-" if n.link_up is None else ("up" if n.link_up else "DOWN")
        if n.lag_bytes is not None:
            link += f" / {n.lag_bytes}B"
        slots = sum(b - a + 1 for a, b in n.slots)
        memory = f"{_mb(n.used_memory)} / {_mb(n.maxmemory)}"
        uptime = "-" if n.uptime_seconds is None else f"{n.uptime_seconds}s"
        table.add_row(
            n.name,
            role,
            n.host or "-",
            n.task_state or "-",
            n.endpoint,
            conn,
            link,
            str(slots) if slots else "-",
            memory,
            uptime,
        )
    parts: list[Table | Text] = [table]
    if report.cluster:
        c = report.cluster
        parts.append(
            Text(
                f"cluster_state:{c.state}  slots ok {c.slots_ok}/16384 (pfail {c.slots_pfail},"
                f" fail {c.slots_fail})  nodes {c.known_nodes}"
                f"  agree {'yes' if c.nodes_agree else 'NO'}"
            )
        )
    for p in report.problems:
        parts.append(
            Text(
                f"{p.severity.value}: {p.node + ': ' if p.node else ''}{p.message}",
                style=_COLOR[p.severity.value],
            )
        )
    return Group(*parts)


def register(app: typer.Typer) -> None:
    """Add `status` to the app."""

    @app.command("status", cls=Command)
    def status_command(
        stack: str = typer.Argument(..., help="Stack name (or its stack file)."),
        docker_host: str | None = DOCKER_HOST_OPTION,
        certs_dir: Path = CERTS_DIR_OPTION,
        as_json: bool = JSON_WATCH_OPTION,
        watch: bool = flag("--watch", help="Refresh until interrupted."),
        interval: float = typer.Option(2.0, "--interval", min=0.5, help="Seconds between checks."),
        node_timeout: float = typer.Option(
            5.0, "--node-timeout", min=0.5, help="Seconds each node has to answer."
        ),
    ) -> None:
        """Health of every node: exit 0 healthy, 1 degraded (serving), 2 down, 4 tool error."""
        name = run(lambda: _name(stack))

        def once() -> HealthReport:
            return run(lambda: fetch_status(docker_host, name, certs_dir, node_timeout))

        if watch:
            report = _watch(once, interval, as_json)
        else:
            report = once()
            if as_json:
                print_json(report.to_dict())
            else:
                console.print(render(report))
        raise typer.Exit(report.exit_code)


def _watch(once: Callable[[], HealthReport], interval: float, as_json: bool) -> HealthReport:
    """Check every ``interval`` seconds until Ctrl-C: a live table on a terminal, else (or
    with ``--json``) one JSON line a check."""
    report = once()
    if as_json or not console.is_terminal:
        try:
            while True:
                print_json_line(report.to_dict())
                time.sleep(interval)
                report = once()
        except KeyboardInterrupt:
            return report
    with Live(render(report), console=console, refresh_per_second=4) as live:
        try:
            while True:
                time.sleep(interval)
                report = once()
                live.update(render(report))
        except KeyboardInterrupt:
            pass
    return report


async def _name(stack: str) -> str:
    return stack_name(stack)
