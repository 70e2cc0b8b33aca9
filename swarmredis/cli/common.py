"""What every command shares: running async code, mapping errors to exit codes, output."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import anyio
import typer
from rich.console import Console
from rich.markup import escape

from swarmredis.errors import SwarmRedisError

T = TypeVar("T")

# Piped output (scripts, CI logs) gets wide tables rather than 80 columns of wrapping.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

DOCKER_HOST_OPTION = typer.Option(
    None,
    "--docker-host",
    envvar="DOCKER_HOST",
    help="Docker engine of a Swarm manager (default: DOCKER_HOST or the local socket).",
)

CERTS_DIR_OPTION = typer.Option(
    Path("certs"),
    "--certs-dir",
    envvar="SWARMREDIS_CERTS_DIR",
    help="Base folder of the certificate store (certs/<stack>/).",
)


def say_error(error: SwarmRedisError) -> None:
    """One line on stderr; the message is escaped so ``[...]`` in it is printed as is."""
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)


def fail(error: SwarmRedisError) -> NoReturn:
    """Print one clear line for a known error and exit with its code."""
    say_error(error)
    raise typer.Exit(error.exit_code)


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body on asyncio; known errors become one line + exit code."""
    try:
        return anyio.run(fn, backend="asyncio")
    except SwarmRedisError as error:
        fail(error)
    except BaseExceptionGroup as group:  # errors collected from task groups
        leaves = _leaves(group)
        if not leaves:
            raise
        for leaf in leaves:
            say_error(leaf)
        raise typer.Exit(max(e.exit_code for e in leaves)) from None


def _leaves(group: BaseExceptionGroup[Any]) -> list[SwarmRedisError]:
    out: list[SwarmRedisError] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        elif isinstance(exc, SwarmRedisError):
            out.append(exc)
    return out


def print_json(data: Any) -> None:
    """Write one JSON document to stdout (no rich markup)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_json_line(data: Any) -> None:
    """Write one compact JSON line to stdout (the ``--json`` mode of long commands)."""
    sys.stdout.write(json.dumps(data, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def stack_file_arg(arg: str) -> Path | None:
    """``arg`` as a stack file path when it names one (``*.yaml``/``*.yml`` or a file)."""
    path = Path(arg)
    return path if path.suffix in (".yaml", ".yml") or path.is_file() else None
