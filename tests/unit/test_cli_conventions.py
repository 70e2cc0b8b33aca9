"""CLI conventions for every command: usage errors exit 4, `--json` prints one document
(JSON lines for streams) and its errors as JSON on stderr, help shows no type after flags."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from swarmredis.cli import app, plan_cmd, rm_cmd, status_cmd
from swarmredis.errors import DegradedError, DockerError, SpecError

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = str(ROOT / "stacks" / "cluster.yaml")
REPLICATION = str(ROOT / "stacks" / "replication.yaml")
NO_ENGINE = "unix:///nonexistent.sock"
# The commands import the engine when they run (docs/performance.md, "Start-up cost"):
# fakes replace the names where the commands look them up then.
GATEWAY = "swarmredis.gateway.docker.DockerGateway"
REMOVE_STACK = "swarmredis.engine.flows.remove.remove_stack"
runner = CliRunner()


def command_paths() -> list[tuple[str, ...]]:
    """Every group and command of the app, as the words that name it (root is ())."""

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


PATHS = command_paths()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWARMREDIS_CERTS_DIR", str(tmp_path / "certs"))
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    monkeypatch.delenv("SWARMREDIS_CA_PASSPHRASE", raising=False)


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = text.strip().splitlines()
    assert lines, "expected JSON lines"
    return [json.loads(line) for line in lines]


def test_the_tree_is_walked() -> None:
    expected = {("status",), ("certs", "status"), ("certs", "due"), ("certs", "ca", "finish")}
    more = {("users",), ("users", "rotate"), ("certs", "ca", "start"), ("certs", "rotate")}
    assert expected | more <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "swarmredis")
def test_help_shows_no_type_after_flags(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "--help" in result.output
    assert "<bool>" not in result.output


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "swarmredis")
def test_unknown_flag_exits_4(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--no-such-flag"])
    assert result.exit_code == 4, result.output
    assert "No such option" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        [],  # no command: help, as a usage error
        ["certs"],
        ["certs", "no-such-command"],
        ["status"],  # missing argument
        ["plan"],
        ["deploy"],
        ["rm"],
        ["users"],
        ["certs", "status"],
        ["status", "ops", "--interval", "soon"],  # bad value
        ["status", "ops", "--node-timeout", "0.1"],  # out of range
        ["deploy", CLUSTER, "--concurrency", "0"],
        ["certs", "rotate"],
        ["users", "rotate", REPLICATION],  # no user
        ["certs", "rotate", CLUSTER, "--leaf-days", "0"],
        ["certs", "init", REPLICATION, "--key-type", "dsa"],
        ["users", REPLICATION, "--show-password"],  # option without its value
    ],
)
def test_usage_errors_exit_4(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output


def test_usage_error_under_json_is_a_json_line_on_stderr() -> None:
    result = runner.invoke(app, ["status", "ops", "--json", "--interval", "soon"])
    assert result.exit_code == 4
    assert result.stdout == ""
    (error,) = json_lines(result.stderr)
    assert error["error"] == "UsageError" and error["exit_code"] == 4
    assert "--interval" in error["message"]


@pytest.mark.parametrize(
    "args",
    [
        ["plan", CLUSTER, "--json"],
        ["status", "ops", "--json"],
        ["nodes", "--json"],
        ["deploy", CLUSTER, "--json"],
        ["certs", "rotate", CLUSTER, "--json"],
        ["rm", "ops", "--json"],
    ],
)
def test_json_errors_are_json_on_stderr_with_exit_4(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 4, result.output
    assert result.stdout == ""
    (error,) = json_lines(result.stderr)
    assert error["error"] == "DockerUnreachable"
    assert error["exit_code"] == 4
    assert NO_ENGINE in error["message"] and error["hint"]


@pytest.mark.parametrize(
    "command",
    [["plan"], ["deploy"], ["rm"], ["status"], ["certs", "status"], ["users"]],
)
def test_bad_stack_file_under_json(tmp_path: Path, command: list[str]) -> None:
    stack_file = tmp_path / "bad.yaml"
    stack_file.write_text("name: Not_A_Name\n")
    result = runner.invoke(app, [*command, str(stack_file), "--json"])
    assert result.exit_code == 4, result.output
    assert result.stdout == ""
    (error,) = json_lines(result.stderr)
    assert error["error"] == "SpecError" and str(stack_file) in error["message"]


def test_the_same_error_without_json_is_one_text_line() -> None:
    result = runner.invoke(app, ["plan", CLUSTER])
    assert result.exit_code == 4
    assert result.stderr.startswith("error: no Docker engine reachable")
    assert len(result.stderr.strip().splitlines()) == 1


def raise_group(*errors: Exception) -> Any:
    async def make_plan(*_: Any, **__: Any) -> Any:
        raise ExceptionGroup("several", list(errors))

    return make_plan


def test_an_exception_group_gives_one_json_line_each_and_the_highest_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = raise_group(
        DegradedError("shop is degraded"),
        ExceptionGroup("inner", [SpecError("x.yaml: bad"), DockerError("refused", status=409)]),
    )
    monkeypatch.setattr(plan_cmd, "make_plan", group)
    result = runner.invoke(app, ["plan", CLUSTER, "--json"])
    assert result.exit_code == 4
    errors = json_lines(result.stderr)
    assert [e["error"] for e in errors] == ["DegradedError", "SpecError", "DockerError"]
    assert [e["exit_code"] for e in errors] == [1, 4, 2]
    assert errors[2]["status"] == 409
    text = runner.invoke(app, ["plan", CLUSTER])
    assert text.exit_code == 4
    assert text.stderr.count("error: ") == 3


def test_a_group_with_a_foreign_member_is_a_bug_and_not_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plan_cmd, "make_plan", raise_group(SpecError("bad"), ValueError("bug")))
    result = runner.invoke(app, ["plan", CLUSTER, "--json"])
    assert isinstance(result.exception, ExceptionGroup)
    assert result.exit_code not in (0, 2, 3, 4)


class FakeGateway:
    """`nodes` and `rm` connect, check the manager, and read nodes: answered from memory."""

    @asynccontextmanager
    async def connect(self, docker_host: str | None = None) -> AsyncIterator[FakeGateway]:
        yield self

    async def require_manager(self) -> dict[str, Any]:
        return {}

    async def nodes(self) -> list[dict[str, Any]]:
        return [
            {
                "ID": f"node{i}",
                "Spec": {"Role": "manager", "Availability": "active", "Labels": {}},
                "Description": {"Hostname": f"h{i}"},
                "Status": {"State": "ready", "Addr": f"10.0.0.{i}"},
            }
            for i in (1, 2)
        ]


def test_nodes_json_is_one_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(GATEWAY, FakeGateway())
    result = runner.invoke(app, ["nodes", "--json"])
    assert result.exit_code == 0, result.output
    assert [n["hostname"] for n in json.loads(result.stdout)] == ["h1", "h2"]


class FakeReport:
    def __init__(self, code: int) -> None:
        self.exit_code = code

    def to_dict(self) -> dict[str, Any]:
        return {"stack": "ops", "exit_code": self.exit_code, "nodes": [{"name": "node-1"}]}


def test_status_json_is_one_document(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fetch(*_: Any) -> FakeReport:
        return FakeReport(1)

    monkeypatch.setattr(status_cmd, "fetch_status", fetch)
    result = runner.invoke(app, ["status", "ops", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["exit_code"] == 1


def test_status_watch_json_is_one_line_per_check(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = iter([0, 1, 2])

    async def fetch(*_: Any) -> FakeReport:
        return FakeReport(next(codes))

    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_cmd, "fetch_status", fetch)
    monkeypatch.setattr(status_cmd, "time", SimpleNamespace(sleep=sleep))
    result = runner.invoke(app, ["status", "ops", "--json", "--watch", "--interval", "7"])
    assert [line["exit_code"] for line in json_lines(result.stdout)] == [0, 1, 2]
    assert sleeps == [7, 7, 7]
    assert result.exit_code == 2  # that of the last check
    # not a terminal (the runner's stdout is not): JSON lines without --json too
    codes, sleeps[:] = iter([0, 0, 0]), []
    plain = runner.invoke(app, ["status", "ops", "--watch", "--interval", "7"])
    assert [line["exit_code"] for line in json_lines(plain.stdout)] == [0, 0, 0]


def fake_remove(not_wiped: dict[str, str], calls: list[str]) -> Any:
    async def remove_stack(gateway: Any, name: str, **kwargs: Any) -> Any:
        calls.append(name)
        kwargs["report"](SimpleNamespace(to_dict=lambda: {"step": "rm", "subject": name}))
        return SimpleNamespace(
            removed=["ops_net"],
            not_wiped=not_wiped,
            to_dict=lambda: {"removed": ["ops_net"], "volumes_not_emptied": not_wiped},
        )

    return remove_stack


def test_rm_json_is_json_lines_and_its_failures_json_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(GATEWAY, FakeGateway())
    monkeypatch.setattr(REMOVE_STACK, fake_remove({"h2": "no image"}, calls))
    result = runner.invoke(app, ["rm", "ops", "--json", "--volumes", "--yes"])
    assert result.exit_code == 1
    event, final = json_lines(result.stdout)
    assert event == {"event": {"step": "rm", "subject": "ops"}}
    assert final["result"]["volumes_not_emptied"] == {"h2": "no image"}
    (error,) = json_lines(result.stderr)
    assert error["message"] == "volumes on h2 were not emptied: no image"


def test_rm_volumes_without_a_terminal_needs_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(REMOVE_STACK, fake_remove({}, calls))
    result = runner.invoke(app, ["rm", "ops", "--volumes"])
    assert result.exit_code == 4
    assert "pass --yes to confirm in scripts" in result.output
    assert calls == []


@pytest.mark.parametrize(("answer", "code", "removed"), [("n\n", 0, []), ("y\n", 0, ["ops"])])
def test_declining_the_rm_prompt_changes_nothing_and_exits_0(
    monkeypatch: pytest.MonkeyPatch, answer: str, code: int, removed: list[str]
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(rm_cmd, "_can_ask", lambda: True)
    monkeypatch.setattr(GATEWAY, FakeGateway())
    monkeypatch.setattr(REMOVE_STACK, fake_remove({}, calls))
    result = runner.invoke(app, ["rm", "ops", "--volumes", "-q"], input=answer)
    assert result.exit_code == code, result.output
    assert calls == removed
    assert ("nothing was changed" in result.output) == (not removed)
