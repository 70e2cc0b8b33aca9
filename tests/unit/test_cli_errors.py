"""The CLI's error mapping: known failures are one line and exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import pytest
from aiohttp import web
from typer.testing import CliRunner

from swarmredis.cli import app
from swarmredis.errors import (
    DockerError,
    DockerUnreachable,
    NotAManager,
    NotInSwarm,
    ObjectNotFound,
)
from swarmredis.gateway.docker import DockerGateway, _translate

runner = CliRunner()


def test_unreachable_engine_is_one_line_exit_4() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "swarmredis", "nodes"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"DOCKER_HOST": "unix:///nonexistent.sock", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 4
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no Docker engine reachable at unix:///nonexistent.sock" in lines[0]


def test_host_without_scheme_is_refused() -> None:
    result = runner.invoke(app, ["nodes", "--docker-host", "somehost:2375"])
    assert result.exit_code == 4
    assert "has no scheme" in result.output


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (900, "Cannot connect to Docker Engine", DockerUnreachable),
        (
            503,
            'This node is not a swarm manager. Use "docker swarm init" or '
            '"docker swarm join" to connect this node to swarm and try again.',
            NotInSwarm,
        ),
        (
            503,
            "This node is not a swarm manager. Worker nodes can't be used to view or "
            "modify cluster state. Please run this command on a manager node or promote "
            "the current node to a manager.",
            NotAManager,
        ),
        (404, "service acme_node-1 not found", ObjectNotFound),
        (409, "name conflicts with an existing object", DockerError),
    ],
)
def test_translate_maps_each_engine_error(status: int, message: str, expected: type) -> None:
    error = _translate(aiodocker.DockerError(status, message), "unix:///x.sock", "GET /info")
    assert type(error) is expected
    assert error.status == (None if status == 900 else status)  # 900: aiodocker's "no engine"
    assert error.exit_code == (2 if expected is DockerError else 4)


@pytest.fixture
async def fake_engine(tmp_path: Path) -> AsyncIterator[str]:
    """A real HTTP server on a unix socket that answers /info like an engine outside a Swarm."""

    async def info(_: web.Request) -> web.Response:
        swarm = {"LocalNodeState": "inactive", "ControlAvailable": False}
        return web.json_response({"Swarm": swarm})

    async def version(_: web.Request) -> web.Response:
        return web.json_response({"ApiVersion": "1.41", "Version": "20.10.24"})

    application = web.Application()
    application.router.add_get("/version", version)
    application.router.add_get("/v1.41/info", info)
    web_runner = web.AppRunner(application)
    await web_runner.setup()
    sock = tmp_path / "engine.sock"
    site = web.UnixSite(web_runner, str(sock))
    await site.start()
    try:
        yield f"unix://{sock}"
    finally:
        await web_runner.cleanup()


@pytest.mark.anyio
async def test_engine_outside_a_swarm_is_named(fake_engine: str) -> None:
    async with DockerGateway.connect(fake_engine) as gw:
        with pytest.raises(NotInSwarm) as info:
            await gw.require_manager()
    assert "not part of a Swarm" in str(info.value)
    assert "docker swarm init" in str(info.value)


def test_json_output_is_plain_json(capsys: pytest.CaptureFixture[str]) -> None:
    from swarmredis.cli.common import print_json

    print_json({"b": 1, "a": [1, 2]})
    assert json.loads(capsys.readouterr().out) == {"a": [1, 2], "b": 1}


@pytest.mark.parametrize("listen", ["9650", ":9650", "0.0.0.0:port", "127.0.0.1:70000"])
def test_metrics_listen_must_be_an_address_and_a_port(listen: str) -> None:
    result = runner.invoke(app, ["metrics", "stacks/cluster.yaml", "--listen", listen])
    assert result.exit_code == 4, result.output
    assert f"--listen {listen!r}: expected ADDRESS:PORT" in result.output


def test_metrics_listen_takes_ipv6_in_brackets() -> None:
    from swarmredis.cli.metrics_cmd import parse_listen

    assert parse_listen("[::1]:9650") == ("::1", 9650)
    assert parse_listen("0.0.0.0:0") == ("0.0.0.0", 0)
