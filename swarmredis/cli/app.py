"""The typer application; each command group lives in its own module and registers here."""

from __future__ import annotations

import typer

from swarmredis.cli import certs_cmd, nodes_cmd, plan_cmd

app = typer.Typer(
    name="swarmredis",
    help="Deploy and operate secure, multi-host Redis on Docker Swarm.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for module in (nodes_cmd, plan_cmd, certs_cmd):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
