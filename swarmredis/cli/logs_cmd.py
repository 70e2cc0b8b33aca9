"""`swarmredis logs`: the Redis and Sentinel logs of a stack across hosts, in time order."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from swarmredis.cli.common import (
    DOCKER_HOST_OPTION,
    JSON_LINES_OPTION,
    Command,
    UsageError,
    flag,
    print_json_line,
    run,
)
from swarmredis.cli.status_cmd import stack_name

if TYPE_CHECKING:
    from swarmredis.plan.logs import LogLine

PREFIX_WIDTH = 24  # "sentinel-3@lab-h3" and the like


def register(app: typer.Typer) -> None:
    """Add `logs` to the app."""

    @app.command("logs", cls=Command)
    def logs_command(
        stack: str = typer.Argument(..., help="Stack name (or its stack file)."),
        node: str | None = typer.Argument(None, help="Only this node or Sentinel (node-1)."),
        since: str | None = typer.Option(
            None,
            "--since",
            help="From 10m, 2h, 1d ago, an RFC 3339 time, or Unix seconds.",
        ),
        tail: int | None = typer.Option(
            None, "--tail", min=0, help="Only the last N lines of each node (default: all)."
        ),
        follow: bool = flag("--follow", "-f", help="Go on with new lines until Ctrl-C."),
        docker_host: str | None = DOCKER_HOST_OPTION,
        as_json: bool = JSON_LINES_OPTION,
    ) -> None:
        """Every task's log on every host, `node@host` before each line, in time order."""
        from swarmredis.plan.logs import since_timestamp

        try:
            start = None if since is None else since_timestamp(since, datetime.now(UTC))
        except ValueError as error:
            raise UsageError(str(error)) from None

        def emit(line: LogLine) -> None:
            if as_json:
                print_json_line(line.to_dict())
                return
            from swarmredis.plan.logs import prefix

            sys.stdout.write(f"{line.time} {prefix(line, PREFIX_WIDTH)} {line.text}\n")
            sys.stdout.flush()

        async def body() -> None:
            from swarmredis.engine.flows.logs import follow_logs, stack_logs
            from swarmredis.gateway.docker import DockerGateway

            name = stack_name(stack)
            async with DockerGateway.connect(docker_host) as gateway:
                if follow:
                    await follow_logs(gateway, name, emit, node, since=start, tail=tail)
                    return
                for line in await stack_logs(gateway, name, node, since=start, tail=tail):
                    emit(line)

        try:
            run(body)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
