"""cli/progress.py: the live footer of long operations on a terminal, none elsewhere."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from swarmredis.cli import progress
from swarmredis.engine.events import Event


def test_without_a_terminal_the_reporter_prints_lines_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=out, force_terminal=False))
    with progress.reporting("human") as report:
        assert not isinstance(report, progress.Bars)
        report(Event("apply", "s_node-1", "done", "service updated"))
    assert "service updated" in out.getvalue()


def test_on_a_terminal_bars_follow_the_changes_and_the_slots(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=120)
    monkeypatch.setattr(progress, "console", terminal)
    with progress.reporting("human") as report:
        assert isinstance(report, progress.Bars)
        report(Event("plan", "s", "done", "3 change(s)", {"changes": 3}))
        for name in ("a", "b"):
            report(Event("apply", name, "done", "secret created"))
        report(Event("bootstrap", "slots", "info", "", {"slots": 40, "total": 100}))
        tasks = {t.description: t for t in report.progress.tasks}
        assert (tasks["applying changes"].completed, tasks["applying changes"].total) == (2, 3)
        assert (tasks["moving slots"].completed, tasks["moving slots"].total) == (40, 100)
        report(Event("plan", "s", "done", "1 change(s)", {"changes": 1}))  # the next deploy
        tasks = {t.description: t for t in report.progress.tasks}
        assert (tasks["applying changes"].completed, tasks["applying changes"].total) == (0, 1)
    assert "secret created" in out.getvalue()  # the lines stay; the footer is transient
