"""The command line: a thin shell over the engine. Only this package imports typer/rich."""

from swarmredis.cli.app import app, main

__all__ = ["app", "main"]
