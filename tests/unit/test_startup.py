"""Start-up cost (docs/performance.md): the CLI loads what a command needs when it runs.

Each check runs in a fresh interpreter, since this one has long imported everything.
No wall-clock assertions: the module lists are what stays true on a loaded machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from swarmredis import __version__

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = str(ROOT / "stacks" / "cluster.yaml")
NO_ENGINE = "unix:///nonexistent.sock"

# What neither `--help` nor `--version` may load (libraries, and the swarmredis modules
# that load them).
HEAVY = (
    "aiodocker",
    "aiohttp",
    "redis",
    "anyio",
    "cryptography",
    "pydantic",
    "yaml",
    "swarmredis.engine",
    "swarmredis.pki",
    "swarmredis.stackfile",
    "swarmredis.gateway.docker",
    "swarmredis.gateway.redis",
)

# Runs the CLI with sys.argv[2:] and, at exit, writes sorted(sys.modules) to sys.argv[1].
RUN_CLI = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv[0] = "swarmredis"
from swarmredis.cli import main
main()
"""

# Asks for the help of every group and command, then prints the exit codes and modules.
ALL_HELP = """
import json, sys
import typer
from typer.testing import CliRunner
from swarmredis.cli import app

def walk(command, path):
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, (*path, name))

runner = CliRunner()
codes = {
    " ".join(path): runner.invoke(app, [*path, "--help"]).exit_code
    for path in walk(typer.main.get_command(app), ())
}
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


def python(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python *args`` with this checkout first on the path."""
    path = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The CLI's result and the modules it had loaded when it exited."""
    out = tmp_path / "modules.json"
    env = {"DOCKER_HOST": NO_ENGINE, "SWARMREDIS_CERTS_DIR": str(tmp_path / "certs")}
    result = python("-c", RUN_CLI, str(out), *args, cwd=tmp_path, env=env)
    modules: list[str] = json.loads(out.read_text())
    return result, modules


@pytest.mark.parametrize("module", ["swarmredis.cli.app", "swarmredis.cli"])
def test_importing_the_cli_loads_no_heavy_module(module: str, tmp_path: Path) -> None:
    check = (
        f"import json, sys, swarmredis, {module}; "
        "print(json.dumps([swarmredis.__file__, sorted(sys.modules)]))"
    )
    result = python("-c", check, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    where, modules = json.loads(result.stdout)
    assert Path(where).is_relative_to(ROOT)  # this checkout, not another install
    assert heavy(modules) == []


def test_version_prints_and_exits_0_without_heavy_modules(tmp_path: Path) -> None:
    result = python("-m", "swarmredis", "--version", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"swarmredis {__version__}\n")
    result, modules = run_cli(tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    assert heavy(modules) == []


def test_the_help_of_every_command_loads_no_heavy_module(tmp_path: Path) -> None:
    result = python("-c", ALL_HELP, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    assert {"", "plan", "deploy", "certs", "certs ca start"} <= set(out["codes"])
    assert set(out["codes"].values()) == {0}, out["codes"]
    assert heavy(out["modules"]) == []


def test_plan_loads_no_redis_client(tmp_path: Path) -> None:
    result, modules = run_cli(tmp_path, "plan", CLUSTER)
    assert result.returncode == 4, result.stderr  # it got as far as the engine: none there
    assert "no Docker engine reachable" in result.stderr
    assert "swarmredis.engine.flows.plan" in modules
    redis = [
        m for m in modules if m == "redis" or m.startswith(("redis.", "swarmredis.gateway.redis"))
    ]
    assert redis == []


def test_status_loads_no_deploy_flow(tmp_path: Path) -> None:
    result, modules = run_cli(tmp_path, "status", "ops")
    assert result.returncode == 4, result.stderr
    assert "swarmredis.engine.flows.status" in modules
    flows = {"swarmredis.engine.flows.deploy", "swarmredis.engine.flows.rolling"}
    assert flows & set(modules) == set()
