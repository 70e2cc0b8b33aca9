"""`swarmredis rm`: remove a stack (volumes kept unless asked)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from swarmredis.cli.common import (
    DOCKER_HOST_OPTION,
    JSON_LINES_OPTION,
    LOCK_TIMEOUT_OPTION,
    Command,
    UsageError,
    console,
    flag,
    print_json_line,
    run,
    say_errors,
    stack_file_arg,
)
from swarmredis.cli.progress import Mode, reporting
from swarmredis.errors import EXIT_DEGRADED, EXIT_OK, SwarmRedisError

if TYPE_CHECKING:
    from swarmredis.engine.flows.remove import RemoveResult
    from swarmredis.plan.jobs import VolumeSet


def register(app: typer.Typer) -> None:
    """Add `rm` to the app."""

    @app.command("rm", cls=Command)
    def rm_command(
        stack: str = typer.Argument(
            ..., help="Stack name, or its stack file (then --volumes works without services)."
        ),
        docker_host: str | None = DOCKER_HOST_OPTION,
        volumes: bool = flag(
            "--volumes", help="Also empty every node's data volume (data is lost)."
        ),
        yes: bool = flag("--yes", "-y", help="Do not ask before deleting data."),
        lock_timeout: float = LOCK_TIMEOUT_OPTION,
        as_json: bool = JSON_LINES_OPTION,
        quiet: bool = flag("--quiet", "-q", help="Print only errors."),
    ) -> None:
        """Remove the stack's services, network, secrets and configs; keep volumes by default."""
        if volumes and not yes:
            if not _can_ask():
                raise UsageError(
                    f"--volumes deletes the data of stack {stack}: pass --yes to confirm in scripts"
                )
            if not typer.confirm(f"Delete all data of stack {stack!r}?"):
                console.print(f"nothing was changed: stack {stack} and its data are as they were")
                raise typer.Exit(EXIT_OK)
        mode: Mode = "json" if as_json else "quiet" if quiet else "human"

        async def body() -> RemoveResult:
            from swarmredis.engine.flows.remove import remove_stack
            from swarmredis.gateway.docker import DockerGateway

            name, known = _stack_and_volumes(stack)
            async with DockerGateway.connect(docker_host) as gateway:
                return await remove_stack(
                    gateway,
                    name,
                    volumes=volumes,
                    known_volumes=known,
                    report=report,
                    lock_timeout=lock_timeout,
                )

        with reporting(mode) as report:
            result = run(body)
        if as_json:
            print_json_line({"result": result.to_dict()})
        elif not quiet:
            kept = "" if volumes else " (volumes kept)"
            console.print(f"[bold]removed[/] {stack}: {len(result.removed)} objects{kept}")
        not_wiped = [
            SwarmRedisError(
                f"volumes on {host} were not emptied: {why}",
                hint="empty or remove them on that host",
            )
            for host, why in result.not_wiped.items()
        ]
        say_errors(not_wiped, as_json=as_json)
        if not_wiped:
            raise typer.Exit(EXIT_DEGRADED)


def _can_ask() -> bool:
    return sys.stdin.isatty()


def _stack_and_volumes(arg: str) -> tuple[str, VolumeSet | None]:
    """A stack name, or a stack file: then its volume names are known without services."""
    path = stack_file_arg(arg)
    if path is None:
        return arg, None
    from swarmredis.plan.jobs import VolumeSet
    from swarmredis.stackfile import load_stack, topology

    stack = load_stack(path)
    names = tuple(sorted(node.volume for node in topology(stack)))
    constraints = tuple(stack.placement.constraints)
    return stack.name, VolumeSet(names, stack.image, constraints)
