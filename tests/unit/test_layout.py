"""The engine's layout rules (docs/architecture.md, "Layout and import rule").

- Pure modules load no I/O library: each is imported alone in a fresh interpreter.
- Imports run one way: cli -> flows -> modes -> redis|swarm -> gateway; plan, stackfile,
  pki, errors, labels, constants, engine.events and the pure endpoint type may be used by
  all and use none of those layers.
- Only the gateways import aiodocker and redis, only the CLI typer and rich.
- Nothing in engine/ outside engine/modes/ branches on the Redis mode.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "swarmredis"
EFFECTFUL = ("anyio", "redis", "aiodocker", "aiohttp", "typer", "rich")

PURE = sorted(
    {
        *(f"plan/{p.name}" for p in (PACKAGE / "plan").glob("*.py")),
        *(f"stackfile/{p.name}" for p in (PACKAGE / "stackfile").glob("*.py")),
        "__init__.py",
        "constants.py",
        "errors.py",
        "labels.py",
        "gateway/endpoint.py",
        "engine/events.py",
        "engine/redis/replies.py",
        "engine/redis/facts.py",
        "engine/redis/verdict.py",
        "engine/redis/metrics.py",
        "engine/modes/base.py",
        "engine/modes/cluster/members.py",
        "engine/modes/cluster/moves.py",
        "engine/modes/cluster/plan.py",
        "engine/modes/cluster/roles.py",
        "engine/modes/cluster/health.py",
        "engine/modes/cluster/timing.py",
        "engine/modes/replication/plan.py",
        "engine/modes/replication/health.py",
    }
)


def module_name(path: str) -> str:
    """``engine/redis/facts.py`` -> ``swarmredis.engine.redis.facts``."""
    dotted = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    return "swarmredis" if dotted == "__init__" else f"swarmredis.{dotted}"


def test_every_pure_module_imports_alone_without_io_libraries() -> None:
    check = (
        "import importlib, sys; importlib.import_module(sys.argv[1]); "
        f"print(','.join(m for m in {EFFECTFUL!r} if m in sys.modules))"
    )
    running = {
        path: subprocess.Popen(
            [sys.executable, "-c", check, module_name(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in PURE
    }
    loaded = {}
    for path, process in running.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, f"{path}: {err}"
        if out.strip():
            loaded[path] = out.strip()
    assert loaded == {}, f"pure modules that load I/O libraries: {loaded}"


# Layers, outermost first; a module may import its own layer's modules and inner layers.
LAYERS = [
    ("entry", ("swarmredis.__main__",)),
    ("cli", ("swarmredis.cli",)),
    ("flows", ("swarmredis.engine.flows",)),
    ("modes", ("swarmredis.engine.modes",)),
    ("redis", ("swarmredis.engine.redis",)),
    ("swarm", ("swarmredis.engine.swarm",)),
    ("context", ("swarmredis.engine.context",)),
    (
        "gateway",
        (
            "swarmredis.gateway.docker",
            "swarmredis.gateway.redis",
            "swarmredis.gateway.redis_errors",
        ),
    ),
]
RANK = {
    "entry": 6,
    "cli": 5,
    "flows": 4,
    "modes": 3,
    "redis": 2,
    "swarm": 2,
    "context": 2,
    "gateway": 1,
}


def layer_of(module: str) -> str:
    if module == "swarmredis":
        return "entry"  # the public API re-exports flows, lazily (PEP 562)
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    # plan, stackfile, pki, errors, labels, constants, engine.events, gateway.endpoint
    return "shared"


def imports_of(path: Path) -> list[str]:
    names: list[str] = []
    for item in ast.walk(ast.parse(path.read_text())):
        if isinstance(item, ast.Import):
            names += [alias.name for alias in item.names]
        elif isinstance(item, ast.ImportFrom) and item.module == "swarmredis":
            names += [f"swarmredis.{alias.name}" for alias in item.names]  # labels, errors...
        elif isinstance(item, ast.ImportFrom) and item.module and item.level == 0:
            names.append(item.module)
    return names


def allowed(importer: str, imported: str) -> bool:
    """Whether a module of layer ``importer`` may import one of layer ``imported``."""
    if imported == "shared" or importer == imported:
        return True
    if importer == "shared":
        return False
    if importer in ("redis", "swarm") and imported in ("redis", "swarm"):
        return False  # siblings: neither knows the other
    return RANK[importer] > RANK[imported]


def sources() -> list[tuple[str, Path]]:
    return [
        (module_name(str(p.relative_to(PACKAGE))), p)
        for p in sorted(PACKAGE.rglob("*.py"))
        if "__pycache__" not in p.parts
    ]


def test_imports_run_one_way() -> None:
    wrong = []
    for module, path in sources():
        for name in imports_of(path):
            if not name.startswith("swarmredis"):
                continue
            if not allowed(layer_of(module), layer_of(name)):
                wrong.append(f"{module} ({layer_of(module)}) imports {name}")
    assert wrong == []


@pytest.mark.parametrize(
    ("library", "owner"),
    [
        ("aiodocker", "swarmredis.gateway.docker"),
        ("aiohttp", "swarmredis.gateway.docker"),
        ("redis", ("swarmredis.gateway.redis", "swarmredis.gateway.redis_errors")),
        ("typer", "swarmredis.cli"),
        ("rich", "swarmredis.cli"),
    ],
)
def test_only_its_owner_imports_a_library(library: str, owner: str | tuple[str, ...]) -> None:
    owners = (owner,) if isinstance(owner, str) else owner
    users = [
        module
        for module, path in sources()
        if any(n == library or n.startswith(library + ".") for n in imports_of(path))
    ]
    assert users and all(u in owners or u.startswith(owners[0] + ".") for u in users), users


def test_no_mode_branches_outside_the_modes() -> None:
    branch = re.compile(r"mode (==|!=|is) |\.mode in \(")
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted((PACKAGE / "engine").rglob("*.py"))
        if "modes" not in path.relative_to(PACKAGE / "engine").parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if branch.search(line)
    ]
    assert found == []


def test_modules_stay_under_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}
