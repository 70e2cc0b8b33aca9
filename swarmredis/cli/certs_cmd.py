"""Placeholder until its owner lands the commands."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
