"""`swarmredis plan`: what `deploy` would change, without changing anything.

Exit codes like ``terraform plan -detailed-exitcode``: 0 nothing to do, 3 changes,
4 the tool could not run (docs/operations.md, "Exit codes").
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from swarmredis.cli.common import (
    CERTS_DIR_OPTION,
    DOCKER_HOST_OPTION,
    JSON_OPTION,
    Command,
    console,
    flag,
    print_json,
    run,
)
from swarmredis.errors import EXIT_CHANGES, EXIT_OK

if TYPE_CHECKING:
    from swarmredis.plan.diff import Change, Plan
    from swarmredis.plan.slots import PlannedMoves

_STYLES = {
    "create": "green",
    "update": "yellow",
    "live": "blue",
    "remove": "red",
    "orphan": "magenta",
    "pending": "cyan",
    "retire": "bold red",
    "noop": "dim",
}


async def make_plan(
    stack_file: Path,
    docker_host: str | None,
    certs_dir: Path,
    *,
    prune: bool,
    allow_colocation: bool,
) -> tuple[Plan, PlannedMoves]:
    """Read the stack file and the Swarm (through a manager) and plan, issuing nothing;
    for a live cluster, also the slot moves `deploy` would make."""
    from swarmredis.engine.flows.plan import DeployOptions, check_certs, plan_stack
    from swarmredis.gateway.docker import DockerGateway
    from swarmredis.pki.store import CertStore
    from swarmredis.plan.slots import PlannedMoves
    from swarmredis.stackfile import load_stack

    stack = load_stack(stack_file)
    options = DeployOptions(certs_dir=certs_dir, prune=prune, allow_colocation=allow_colocation)
    store = CertStore(certs_dir, stack.name, stack_file=str(stack_file))
    await check_certs(store)
    async with DockerGateway.connect(docker_host) as gateway:
        await gateway.require_manager()
        plan, _ = await plan_stack(gateway, stack, store, options, issue=False)
        moves = PlannedMoves()
        if plan.reshards:  # only then the Redis client loads: plan stays quick to start
            from swarmredis.engine.flows.moves import planned_moves

            moves = await planned_moves(gateway, plan, store)
    return plan, moves


def render_assignment(plan: Plan) -> Table:
    """Where each logical node runs, and whether it stays where it was."""
    from swarmredis.plan.diff import assignment_rows

    state = plan.desired
    table = Table(title=f"placement of {state.stack.name} ({state.stack.mode})")
    for column in ("node", "role", "shard", "host", "domain", "address", "port", "slots", ""):
        table.add_column(column)
    for row in assignment_rows(state):
        slots = state.slots.get(row["node"])
        table.add_row(
            row["node"],
            row["role"],
            _text(row["shard"]),
            row["hostname"],
            row["domain"],
            row["address"],
            _text(row["published_port"]),
            f"{slots[0]}-{slots[1]}" if slots else "",
            "retires" if row["retiring"] else "kept" if row["kept"] else "placed",
        )
    return table


def render_actions(plan: Plan) -> Table:
    """Every object that changes (no-ops are only counted)."""
    noops = len(plan.by_action("noop"))
    table = Table(title=f"{plan.changes} change(s), {noops} object(s) up to date")
    for column in ("action", "kind", "name", "details"):
        table.add_column(column)
    for change in plan.every():
        if change.action != "noop":
            action = Text(change.action, style=_STYLES[change.action])
            table.add_row(action, change.kind, change.name, _details(change))
    return table


def _details(change: Change) -> str:
    if change.action == "live":
        return change.reason  # the values; the label that records them is bookkeeping
    parts = []
    if change.live:
        parts.append("live first: " + ", ".join(change.live))
    if change.fields:
        parts.append(", ".join(change.fields))
    if change.after_update:
        parts.append("after services are updated")
    if change.reason:
        parts.append(change.reason)
    return "; ".join(parts)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def render_moves(moves: PlannedMoves) -> list[Text]:
    """The slot moves of a live cluster, one line each (or why they are not known)."""
    if moves.unknown:
        return [Text(f"slot moves: not known ({moves.unknown})", style="yellow")]
    if not moves.moves:
        return []
    lines = [Text(f"{moves.slots} slot(s) move for even shares:", style="yellow")]
    return lines + [Text(f"  {move}") for move in moves.moves]


def render_plan(plan: Plan, moves: PlannedMoves) -> Group:
    """The whole plan as rich renderables: placement, changes, slot moves, warnings."""
    parts: list[Table | Text] = [render_assignment(plan), render_actions(plan)]
    parts += render_moves(moves)
    for warning in plan.desired.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    if plan.desired.missing_material:
        parts.append(
            Text(
                f"{len(plan.desired.missing_material)} secret(s) are to be generated by "
                f"`swarmredis certs issue` (or `swarmredis deploy`)",
                style="cyan",
            )
        )
    if plan.changes == 0 and not moves.moves:
        parts.append(Text("nothing to do", style="bold green"))
    return Group(*parts)


def register(app: typer.Typer) -> None:
    """Add `plan` to the app."""

    @app.command("plan", cls=Command)
    def plan_command(
        stack_file: Path = typer.Argument(..., help="The stack file (stacks/*.yaml)."),
        as_json: bool = JSON_OPTION,
        prune: bool = flag("--prune", help="Plan to remove stack objects the file no longer has."),
        allow_colocation: bool = flag(
            "--allow-colocation",
            help="Warn instead of failing when a primary and a replica must share a domain.",
        ),
        docker_host: str | None = DOCKER_HOST_OPTION,
        certs_dir: Path = CERTS_DIR_OPTION,
    ) -> None:
        """Show what `deploy` would change: exit 0 nothing to do, 3 changes, 4 tool error."""
        plan, moves = run(
            lambda: make_plan(
                stack_file, docker_host, certs_dir, prune=prune, allow_colocation=allow_colocation
            )
        )
        if as_json:
            print_json({**plan.to_dict(), **moves.to_dict()})
        else:
            console.print(render_plan(plan, moves))
        raise typer.Exit(EXIT_CHANGES if plan.changes or moves.moves else EXIT_OK)
