"""`swarmredis certs rotate STACKFILE [--ca] [--force]`: re-issue and roll out, in one run
that a cron job can repeat (it resumes an interrupted one)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swarmredis.cli.certs_cmd import (
    CA_DAYS,
    ENCRYPT,
    RENEW_DAYS,
    STACK_FILE,
    KeyTypeChoice,
    ask_passphrase,
    chosen_key_type,
    passphrase_for_new_key,
)
from swarmredis.cli.common import (
    ALLOW_DOWNTIME_OPTION,
    CERTS_DIR_OPTION,
    DOCKER_HOST_OPTION,
    JSON_LINES_OPTION,
    LOCK_TIMEOUT_OPTION,
    ROLLING_TIMEOUT_OPTION,
    console,
    flag,
    print_json_line,
    run,
)
from swarmredis.cli.progress import Mode, reporting
from swarmredis.errors import EXIT_CHANGES, EXIT_OK

if TYPE_CHECKING:
    from swarmredis.engine.flows.rotate import RotateResult


def rotate_command(
    stack_file: Path = STACK_FILE,
    ca: bool = flag(
        "--ca",
        help="Rotate the CA itself: trust old + new, re-issue every leaf, trust the new one"
        " alone (three rolling deploys).",
    ),
    force: bool = flag("--force", help="Re-issue every leaf, not only those due."),
    leaf_days: int = typer.Option(90, "--leaf-days", min=1, help="Lifetime of new leaves."),
    renew_days: int = RENEW_DAYS,
    ca_days: int = CA_DAYS,
    key_type: KeyTypeChoice | None = typer.Option(
        None, "--key-type", help="Key algorithm of a new CA (default: that of the current one)."
    ),
    encrypt_key: bool = ENCRYPT,
    plan: bool = flag("--plan", help="Show the phases and leaves; change nothing (exit 3/0)."),
    docker_host: str | None = DOCKER_HOST_OPTION,
    certs_dir: Path = CERTS_DIR_OPTION,
    timeout: float = ROLLING_TIMEOUT_OPTION,
    allow_downtime: bool = ALLOW_DOWNTIME_OPTION,
    lock_timeout: float = LOCK_TIMEOUT_OPTION,
    as_json: bool = JSON_LINES_OPTION,
    quiet: bool = flag("--quiet", "-q", help="Print only errors."),
) -> None:
    """Re-issue due leaves (all with --force; the CA with --ca) and roll them out node by
    node, a primary only after a failover: exit 0 done, 1 done but degraded, 2 stopped
    (run it again to resume)."""
    from swarmredis.engine.flows.plan import DeployOptions
    from swarmredis.engine.flows.rotate import RotateOptions, rotate_certs
    from swarmredis.gateway.docker import DockerGateway
    from swarmredis.stackfile import load_stack

    mode: Mode = "json" if as_json else "quiet" if quiet else "human"
    options = RotateOptions(
        deploy=DeployOptions(
            certs_dir=certs_dir,
            timeout=timeout,
            lock_timeout=lock_timeout,
            allow_downtime=allow_downtime,
        ),
        stack_file=str(stack_file),
        ca=ca,
        force=force,
        leaf_days=leaf_days,
        renew_days=renew_days,
        ca_days=ca_days,
        key_type=None if key_type is None else chosen_key_type(key_type),
        passphrase=ask_passphrase,
        new_passphrase=passphrase_for_new_key(encrypt_key) if ca and not plan else None,
    )

    async def body() -> RotateResult:
        stack = load_stack(stack_file)
        async with DockerGateway.connect(docker_host) as gateway:
            return await rotate_certs(gateway, stack, options, plan_only=plan, report=report)

    with reporting(mode) as report:
        result = run(body)
    if as_json:
        print_json_line({"result": result.to_dict()})
    elif not quiet:
        console.print(summary(result), highlight=False)
    if plan:
        raise typer.Exit(EXIT_CHANGES if result.reissued or result.kind == "ca" else EXIT_OK)


def summary(result: RotateResult) -> str:
    """The run's one line (the plan's lines, planned only)."""
    phases = ", ".join(str(p) for p in result.phases)
    resumed = f" (resumed at phase {result.resumed})" if result.resumed else ""
    if result.planned:
        if result.kind == "ca":
            lines = [f"{result.stack}: CA rotation{resumed}: phases {phases}"]
        elif not result.reissued:
            return f"{result.stack}: no leaf is due; nothing to rotate"
        else:
            lines = [f"{result.stack}: {len(result.reissued)} leaves to re-issue{resumed}"]
        lines += [f"  re-issue {leaf}" for leaf in result.reissued]
        return "\n".join(lines)
    restarted = len(set(result.restarted))
    if result.kind == "ca":
        return (
            f"rotated the CA of {result.stack}{resumed}: phases {phases}; "
            f"{len(result.reissued)} leaves re-issued, {restarted} services rolled"
        )
    if not result.reissued and not restarted:
        return f"{result.stack}: no leaf is due; nothing rotated"
    return (
        f"rotated {len(result.reissued)} leaves of {result.stack}{resumed}: "
        f"{restarted} services rolled"
    )
