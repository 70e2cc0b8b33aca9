"""What every command shares: the command classes that turn errors into exit codes, the
shared options, running async code, and output (text or JSON).

Errors become exit codes in one place, ``Group.invoke`` of the root command: a
``SwarmRedisError`` (or an ExceptionGroup of them) is printed, one line each, as text or,
under ``--json``, as one JSON object a line on stderr, and exits with its (highest) code; a
usage error (bad flag, missing argument, bad value) exits ``EXIT_USAGE``, so the health
codes 0/1/2 of ``status`` and ``certs status`` never mean "the tool could not run".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

# typer >= 0.29 vendors click as typer._click and re-exports none of its Context and
# UsageError; commands raise UsageError from here for a usage error (exit 4)
from typer._click.core import Context
from typer._click.exceptions import UsageError as UsageError
from typer.core import TyperCommand, TyperGroup, TyperOption

from swarmredis.errors import EXIT_USAGE, SwarmRedisError

T = TypeVar("T")

# Piped output (scripts, CI logs) gets wide tables rather than 80 columns of wrapping.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

_JSON_KEY = "swarmredis.json"  # in the click context's meta, shared by nested contexts


def _remember_json(ctx: typer.Context, value: bool) -> bool:
    ctx.meta[_JSON_KEY] = value
    return value


def _json_option(help_text: str) -> Any:
    return typer.Option(False, "--json", help=help_text, metavar="", callback=_remember_json)


# One wording per kind of output; with any of them, errors are JSON lines on stderr.
JSON_OPTION = _json_option("Print JSON: one document on stdout (errors: JSON on stderr).")
JSON_LINES_OPTION = _json_option(
    "Print JSON lines: one per event, then the result (errors: JSON on stderr)."
)
JSON_WATCH_OPTION = _json_option(
    "Print JSON: one document; with --watch one line per check (errors: JSON on stderr)."
)


def flag(*names: str, help: str) -> Any:
    """A value-less option (off unless given); no type is shown after it in ``--help``."""
    return typer.Option(False, *names, help=help, metavar="")


DOCKER_HOST_OPTION = typer.Option(
    None,
    "--docker-host",
    envvar="DOCKER_HOST",
    help="Docker engine of a Swarm manager (default: DOCKER_HOST or the local socket).",
)

LOCK_TIMEOUT_OPTION = typer.Option(
    30.0,
    "--lock-timeout",
    min=0.0,
    help="Seconds to wait while another operation holds the stack's lock (0: fail at once).",
)
ROLLING_TIMEOUT_OPTION = typer.Option(
    300.0, "--timeout", min=1.0, help="Seconds each rolling deploy may take."
)
ALLOW_DOWNTIME_OPTION = flag(
    "--allow-downtime",
    help="Restart a primary that has no linked replica to stand in (its data is offline"
    " meanwhile); refused without it.",
)
CERTS_DIR_OPTION = typer.Option(
    Path("certs"),
    "--certs-dir",
    envvar="SWARMREDIS_CERTS_DIR",
    help="Base folder of the certificate store (certs/<stack>/).",
)


def _plain_flag(option: TyperOption | None) -> TyperOption | None:
    """``--help`` takes no value, but typer's help would show ``<bool>`` after it.

    Its default becomes ``False`` (typer leaves ``None``): typer passes a bool flag's bool
    value through as is, but coerces ``None`` with pydantic, which a ``<command> --help``
    would then load for the groups above it (docs/performance.md, "Start-up cost").
    """
    if option is not None:
        option.metavar = ""
        option.default = False
    return option


class Command(TyperCommand):
    """Every swarmredis command (``app.command(name, cls=Command)``)."""

    def get_help_option(self, ctx: Context) -> TyperOption | None:
        return _plain_flag(super().get_help_option(ctx))


class Group(TyperGroup):
    """The root command and its groups: known errors and usage errors -> exit codes."""

    def get_help_option(self, ctx: Context) -> TyperOption | None:
        return _plain_flag(super().get_help_option(ctx))

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Context | None = None,
        **extra: Any,
    ) -> Context:
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except UsageError as error:
            _usage_error(error, as_json="--json" in args)
        # until the command's --json option says (it is not parsed yet)
        ctx.meta.setdefault(_JSON_KEY, "--json" in args)
        return ctx

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as error:
            _usage_error(error, as_json=bool(ctx.meta.get(_JSON_KEY)))
        except SwarmRedisError as error:
            say_errors([error], as_json=bool(ctx.meta.get(_JSON_KEY)))
            raise typer.Exit(error.exit_code) from None
        except BaseExceptionGroup as group:  # errors collected from task groups
            leaves = _leaves(group)
            if leaves is None:
                raise  # a member that is not a SwarmRedisError is a bug: show its traceback
            say_errors(leaves, as_json=bool(ctx.meta.get(_JSON_KEY)))
            raise typer.Exit(max(e.exit_code for e in leaves)) from None


def _usage_error(error: UsageError, *, as_json: bool) -> NoReturn:
    """Exit ``EXIT_USAGE``: as a JSON line under ``--json``, else as typer prints it."""
    error.exit_code = EXIT_USAGE
    if not as_json:
        raise error
    out: dict[str, Any] = {
        "error": "UsageError",
        "message": error.format_message(),
        "exit_code": EXIT_USAGE,
    }
    if error.ctx is not None:
        out["hint"] = f"see `{error.ctx.command_path} --help`"
    _write_json_line(sys.stderr, out)
    raise typer.Exit(EXIT_USAGE)


def _leaves(group: BaseExceptionGroup[Any]) -> list[SwarmRedisError] | None:
    """Every error in ``group`` (flattened), or None when one is not a SwarmRedisError."""
    out: list[SwarmRedisError] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            inner = _leaves(exc)
            if inner is None:
                return None
            out.extend(inner)
        elif isinstance(exc, SwarmRedisError):
            out.append(exc)
        else:
            return None
    return out or None


def say_errors(errors: Sequence[SwarmRedisError], *, as_json: bool = False) -> None:
    """One line each on stderr: ``error: ...`` (escaped, so ``[...]`` prints as is), or JSON."""
    for error in errors:
        if as_json:
            _write_json_line(sys.stderr, error.to_dict())
        else:
            err_console.print(
                f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
            )


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body on asyncio (its errors reach ``Group.invoke``)."""
    import anyio  # here: `--help` and `--version` never run async code

    return anyio.run(fn, backend="asyncio")


def print_json(data: Any) -> None:
    """Write one JSON document to stdout (no rich markup)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_json_line(data: Any) -> None:
    """Write one compact JSON line to stdout (the ``--json`` mode of streams)."""
    _write_json_line(sys.stdout, data)


def _write_json_line(stream: Any, data: Any) -> None:
    stream.write(json.dumps(data, sort_keys=True, default=str) + "\n")
    stream.flush()


def stack_file_arg(arg: str) -> Path | None:
    """``arg`` as a stack file path when it names one (``*.yaml``/``*.yml`` or a file)."""
    path = Path(arg)
    return path if path.suffix in (".yaml", ".yml") or path.is_file() else None


class DefaultGroup(Group):
    """A group whose first word may be an argument of its ``default`` command instead of
    a command: ``swarmredis users STACKFILE`` is ``swarmredis users list STACKFILE``."""

    default = "list"

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] != "--help":
            args = [self.default, *args]
        return super().parse_args(ctx, args)
