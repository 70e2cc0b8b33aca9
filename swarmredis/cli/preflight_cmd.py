"""`swarmredis preflight`: every host the stack may use, read and judged, nothing changed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from swarmredis.cli.certs_cmd import STACK_FILE
from swarmredis.cli.common import (
    DOCKER_HOST_OPTION,
    JSON_OPTION,
    Command,
    console,
    print_json,
    run,
)

if TYPE_CHECKING:
    from swarmredis.plan.preflight import Check

_STYLE = {"pass": "green", "skip": "dim", "warn": "yellow", "fail": "bold red"}


def render_checks(stack: str, checks: list[Check]) -> Table:
    """One table: a row per host and check, the fix where it did not pass."""
    table = Table(title=f"preflight of {stack}")
    for column in ("host", "check", "", "found", "fix"):
        table.add_column(column, overflow="fold")
    for check in checks:
        verdict = check.verdict.value
        style = _STYLE[verdict]
        table.add_row(
            check.host, check.name, f"[{style}]{verdict}[/]", escape(check.found), escape(check.fix)
        )
    return table


async def run_preflight(
    stack_file: Path, docker_host: str | None, certs_dir: Path
) -> tuple[str, list[Check]]:
    from swarmredis.engine.flows.plan import DeployOptions
    from swarmredis.engine.flows.preflight import preflight
    from swarmredis.gateway.docker import DockerGateway
    from swarmredis.stackfile import load_stack

    stack = load_stack(stack_file)
    async with DockerGateway.connect(docker_host) as gateway:
        await gateway.require_manager()
        return stack.name, await preflight(gateway, stack, DeployOptions(certs_dir=certs_dir))


def register(app: typer.Typer) -> None:
    """Add `preflight` to the app."""

    @app.command("preflight", cls=Command)
    def preflight_command(
        stack_file: Path = STACK_FILE,
        docker_host: str | None = DOCKER_HOST_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Check every host the stack may use (THP, overcommit, somaxconn, memory, disk,
        clock, engine, image), changing nothing: exit 0 all pass, 1 warnings, 2 a failure."""
        from swarmredis.plan.preflight import exit_code

        name, checks = run(lambda: run_preflight(stack_file, docker_host, Path("certs")))
        code = exit_code(checks)
        if as_json:
            print_json({"stack": name, "exit_code": code, "checks": [c.to_dict() for c in checks]})
        else:
            console.print(render_checks(name, checks))
        raise typer.Exit(code)
