"""`swarmredis metrics`: the stack's metrics for Prometheus, over HTTP or once to stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swarmredis.cli.certs_cmd import STACK_FILE
from swarmredis.cli.common import (
    CERTS_DIR_OPTION,
    DOCKER_HOST_OPTION,
    Command,
    UsageError,
    console,
    flag,
    run,
)
from swarmredis.cli.pkiview import load_with_store

if TYPE_CHECKING:
    from swarmredis.engine.flows.metrics import Exporter

DEFAULT_LISTEN = "127.0.0.1:9650"


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[v6]:PORT`` too) -> (address, port); UsageError naming the flag."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(
            f"--listen {text!r}: expected ADDRESS:PORT, e.g. 0.0.0.0:9650 or 127.0.0.1:0"
        )
    return host, int(port)


def register(app: typer.Typer) -> None:
    """Add `metrics` to the app."""

    @app.command("metrics", cls=Command)
    def metrics_command(
        stack_file: Path = STACK_FILE,
        listen: str = typer.Option(
            DEFAULT_LISTEN, "--listen", help="ADDRESS:PORT to serve /metrics on (port 0: any)."
        ),
        once: bool = flag("--once", help="Print one scrape to stdout and exit (textfile use)."),
        scrape_timeout: float = typer.Option(
            5.0, "--scrape-timeout", min=1.0, help="Seconds a scrape may take."
        ),
        docker_host: str | None = DOCKER_HOST_OPTION,
        certs_dir: Path = CERTS_DIR_OPTION,
    ) -> None:
        """Serve the stack's metrics for Prometheus, scraped as the `monitor` user: every
        node's state, roles, memory, traffic, replication, the cluster, certificate expiry."""
        host, port = parse_listen(listen)

        async def body() -> None:
            from swarmredis.engine.flows.metrics import open_exporter
            from swarmredis.engine.flows.plan import DeployOptions, deployed_pki
            from swarmredis.errors import SwarmRedisError
            from swarmredis.gateway.docker import DockerGateway
            from swarmredis.pki.material import stack_pki

            stack, store = load_with_store(stack_file, certs_dir)
            async with DockerGateway.connect(docker_host) as gateway:
                # the deployed nodes' certificates (a scaled stack's names are its own)
                try:
                    live = await deployed_pki(gateway, stack, DeployOptions(certs_dir=certs_dir))
                except SwarmRedisError:
                    live = None  # the exporter says what is wrong with the stack
                pki = live or stack_pki(stack)
                exporter = await open_exporter(gateway, store, pki, scrape_timeout)
                if once:
                    sys.stdout.buffer.write(await exporter.exposition())
                    sys.stdout.flush()
                    return
                await serve_exporter(exporter, host, port, " (Ctrl-C stops)")

        run_until_stopped(body)

    @app.command("exporter", cls=Command)
    def exporter_command(
        targets: Path = typer.Argument(
            ...,
            help="The targets document the deploy wrote: /etc/swarmredis/targets.json inside"
            " the stack's metrics service.",
        ),
        listen: str = typer.Option(
            "0.0.0.0:9650", "--listen", help="ADDRESS:PORT to serve /metrics on."
        ),
    ) -> None:
        """Serve a stack's metrics from its targets document, asking no Swarm: what the
        stack's own metrics service runs (metrics.enabled in the stack file)."""
        host, port = parse_listen(listen)
        try:
            document = json.loads(targets.read_text())
        except OSError as error:
            raise UsageError(f"targets document {targets}: {error.strerror}") from None
        except ValueError as error:
            raise UsageError(f"targets document {targets}: not JSON ({error})") from None

        async def body() -> None:
            import anyio

            from swarmredis.engine.flows.metrics import document_exporter

            exporter = await anyio.to_thread.run_sync(lambda: document_exporter(document))
            await serve_exporter(exporter, host, port)

        run_until_stopped(body)


async def serve_exporter(exporter: Exporter, host: str, port: int, note: str = "") -> None:
    """Serve ``/metrics`` until stopped, saying where once it listens."""
    from swarmredis.gateway.http import serve

    def ready(bound_host: str, bound_port: int) -> None:
        console.print(
            f"serving the metrics of {exporter.stack} on"
            f" http://{bound_host}:{bound_port}/metrics{note}"
        )

    await serve(host, port, exporter.handle, ready=ready)


def run_until_stopped(body: Callable[[], Awaitable[None]]) -> None:
    """``run(body)``; Ctrl-C is the way a server stops: exit 0."""
    try:
        run(body)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
