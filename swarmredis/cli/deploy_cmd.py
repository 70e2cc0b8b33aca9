"""`swarmredis deploy`: the main job."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swarmredis.cli.common import (
    ALLOW_DOWNTIME_OPTION,
    CERTS_DIR_OPTION,
    DOCKER_HOST_OPTION,
    JSON_LINES_OPTION,
    LOCK_TIMEOUT_OPTION,
    Command,
    console,
    flag,
    print_json_line,
    run,
)
from swarmredis.cli.progress import Mode, reporting

if TYPE_CHECKING:
    from swarmredis.engine.flows.deploy import DeployResult


def register(app: typer.Typer) -> None:
    """Add `deploy` to the app."""

    @app.command("deploy", cls=Command)
    def deploy_command(
        stack_file: Path = typer.Argument(..., help="The stack file (stacks/*.yaml)."),
        docker_host: str | None = DOCKER_HOST_OPTION,
        certs_dir: Path = CERTS_DIR_OPTION,
        concurrency: int = typer.Option(
            16,
            "--concurrency",
            min=1,
            max=256,
            help="At most this many engine/Redis calls at once.",
        ),
        timeout: float = typer.Option(
            300.0, "--timeout", min=1.0, help="Seconds to wait for services and the cluster."
        ),
        prune: bool = flag("--prune", help="Remove stack objects the file no longer has."),
        allow_colocation: bool = flag(
            "--allow-colocation",
            help="Place a primary and its replica in one domain when there are too few.",
        ),
        keep_roles: bool = flag(
            "--keep-roles",
            help="Leave a failover's roles as they are (default: hand each cluster shard"
            " back to its planned primary with a coordinated CLUSTER FAILOVER).",
        ),
        allow_downtime: bool = ALLOW_DOWNTIME_OPTION,
        skip_preflight: bool = flag(
            "--skip-preflight",
            help="Create services without reading the hosts first (`swarmredis preflight`).",
        ),
        lock_timeout: float = LOCK_TIMEOUT_OPTION,
        as_json: bool = JSON_LINES_OPTION,
        quiet: bool = flag("--quiet", "-q", help="Print only errors."),
    ) -> None:
        """Create or converge a stack, bootstrap Redis, and prove it healthy (exit 0)."""
        from swarmredis.engine.flows.deploy import deploy
        from swarmredis.engine.flows.plan import DeployOptions
        from swarmredis.gateway.docker import DockerGateway
        from swarmredis.stackfile import load_stack

        mode: Mode = "json" if as_json else "quiet" if quiet else "human"
        options = DeployOptions(
            certs_dir=certs_dir,
            concurrency=concurrency,
            timeout=timeout,
            prune=prune,
            allow_colocation=allow_colocation,
            restore_roles=not keep_roles,
            allow_downtime=allow_downtime,
            lock_timeout=lock_timeout,
            preflight=not skip_preflight,
        )

        async def body() -> DeployResult:
            stack = load_stack(stack_file)
            async with DockerGateway.connect(docker_host) as gateway:
                return await deploy(gateway, stack, options, report=report)

        with reporting(mode) as report:
            result = run(body)
        if as_json:
            print_json_line({"result": result.to_dict()})
        elif not quiet:
            changed = result.plan.changes
            summary = "no changes" if changed == 0 else f"{changed} change(s) applied"
            console.print(f"[bold green]deployed[/] {result.plan.desired.stack.name}: {summary}")
