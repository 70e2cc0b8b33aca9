"""`swarmredis render` and `swarmredis secrets push`: the stack for `docker stack deploy`.

The compose file goes to stdout (or ``-o FILE``); what to run next, and what
`swarmredis deploy` will set when it adopts the services, go to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from swarmredis.cli.certs_cmd import STACK_FILE
from swarmredis.cli.common import (
    CERTS_DIR_OPTION,
    DOCKER_HOST_OPTION,
    JSON_OPTION,
    LOCK_TIMEOUT_OPTION,
    Command,
    Group,
    console,
    print_json,
    run,
)

if TYPE_CHECKING:
    from swarmredis.engine.flows.render import PushResult
    from swarmredis.plan.compose import Rendered


def compose_text(rendered: Rendered, stack: str) -> str:
    """The compose document as YAML, headed by where it came from."""
    head = (
        f"# stack {stack}, rendered by `swarmredis render`: deploy it with\n"
        f"#   docker stack deploy -c FILE --resolve-image never {stack}\n"
        "# after `swarmredis secrets push` (the network, secrets and configs are external),\n"
        "# then run `swarmredis deploy` once: it adopts the services and bootstraps Redis.\n"
    )
    import yaml  # here: starting the CLI loads no YAML library

    class Dumper(yaml.SafeDumper):
        """Multi-line strings (the health check's script) as literal blocks."""

    def literal(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, literal)
    body = yaml.dump(rendered.document, Dumper=Dumper, sort_keys=False, width=100)
    return head + body


def _write(path: Path, text: str) -> None:
    """Replace ``path`` in one step (a reader never sees half a file)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


async def _render(
    stack_file: Path, docker_host: str | None, certs_dir: Path
) -> tuple[str, Rendered, list[str]]:
    from swarmredis.engine.flows.plan import DeployOptions
    from swarmredis.engine.flows.render import render
    from swarmredis.gateway.docker import DockerGateway
    from swarmredis.stackfile import load_stack

    stack = load_stack(stack_file)
    async with DockerGateway.connect(docker_host) as gateway:
        rendered, issued = await render(gateway, stack, DeployOptions(certs_dir=certs_dir))
    return stack.name, rendered, issued


async def _push(
    stack_file: Path, docker_host: str | None, certs_dir: Path, lock_timeout: float
) -> tuple[str, PushResult]:
    from swarmredis.engine.flows.plan import DeployOptions
    from swarmredis.engine.flows.render import push
    from swarmredis.gateway.docker import DockerGateway
    from swarmredis.stackfile import load_stack

    stack = load_stack(stack_file)
    options = DeployOptions(certs_dir=certs_dir, lock_timeout=lock_timeout)
    async with DockerGateway.connect(docker_host) as gateway:
        return stack.name, await push(gateway, stack, options)


def register(app: typer.Typer) -> None:
    """Add `render` and the `secrets` group to the app."""

    @app.command("render", cls=Command)
    def render_command(
        stack_file: Path = STACK_FILE,
        output: Path | None = typer.Option(
            None, "--output", "-o", help="Write the compose file here instead of stdout."
        ),
        docker_host: str | None = DOCKER_HOST_OPTION,
        certs_dir: Path = CERTS_DIR_OPTION,
    ) -> None:
        """The stack as a compose file (3.8) for `docker stack deploy`, placed on this
        Swarm; its network, secrets and configs are external (`swarmredis secrets push`)."""
        name, rendered, issued = run(lambda: _render(stack_file, docker_host, certs_dir))
        text = compose_text(rendered, name)
        for line in issued:
            typer.echo(f"issued {line}", err=True)
        if output is None:
            sys.stdout.write(text)
        else:
            _write(output, text)
            typer.echo(f"wrote {output} ({len(rendered.document['services'])} services)", err=True)
        typer.echo("`swarmredis deploy` sets, when it adopts the services:", err=True)
        for item in rendered.adopted_later:
            typer.echo(f"  - {item}", err=True)

    secrets = typer.Typer(
        help="The stack's Swarm secrets, configs and network, for `docker stack deploy`.",
        no_args_is_help=True,
        cls=Group,
    )

    @secrets.command("push", cls=Command)
    def push_command(
        stack_file: Path = STACK_FILE,
        docker_host: str | None = DOCKER_HOST_OPTION,
        certs_dir: Path = CERTS_DIR_OPTION,
        lock_timeout: float = LOCK_TIMEOUT_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Create the stack's network, secrets and configs (issuing missing certificates
        first) that a rendered compose file declares external; nothing else."""
        name, result = run(lambda: _push(stack_file, docker_host, certs_dir, lock_timeout))
        summary: dict[str, Any] = {
            "stack": name,
            "created": result.created,
            "present": result.present,
            "issued": result.issued,
        }
        if as_json:
            print_json(summary)
            return
        for line in result.issued:
            console.print(f"issued {line}")
        for created in result.created:
            console.print(f"created {created}")
        console.print(
            f"{name}: {len(result.created)} object(s) created, {len(result.present)} present"
        )

    app.add_typer(secrets, name="secrets")
