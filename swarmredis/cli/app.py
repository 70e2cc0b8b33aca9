"""The typer application; each command group lives in its own module and registers here."""

from __future__ import annotations

import typer

from swarmredis import __version__
from swarmredis.cli import (
    certs_cmd,
    deploy_cmd,
    logs_cmd,
    metrics_cmd,
    nodes_cmd,
    plan_cmd,
    preflight_cmd,
    render_cmd,
    rm_cmd,
    status_cmd,
    users_cmd,
)
from swarmredis.cli.common import Group

app = typer.Typer(
    name="swarmredis",
    help="Deploy and operate secure, multi-host Redis on Docker Swarm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=Group,  # errors and usage errors -> exit codes, for every command
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"swarmredis {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        metavar="",
        help="Print the version and exit.",
    ),
) -> None:
    """Deploy and operate secure, multi-host Redis on Docker Swarm."""


for module in (
    nodes_cmd,
    plan_cmd,
    preflight_cmd,
    deploy_cmd,
    status_cmd,
    metrics_cmd,
    logs_cmd,
    render_cmd,
    rm_cmd,
    users_cmd,
    certs_cmd,
):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
