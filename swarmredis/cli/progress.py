"""Rendering engine events: a line per node and step for people, JSON lines for scripts.

On a terminal, the lines of a long operation (deploy, scale, rotate, rm) scroll above a
live footer: a bar for what has a known total (the plan's changes being applied, slots
being moved) and a spinner with the step under way and its elapsed time. The footer is
transient: when the command ends only the lines stay, as they are when stdout is not a
terminal (then no footer at all)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from swarmredis.cli.common import console, print_json_line

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from swarmredis.engine.events import Event, Reporter

Mode = Literal["human", "json", "quiet"]

_STYLE = {
    "start": "dim",
    "done": "green",
    "noop": "dim",
    "skip": "yellow",
    "fail": "bold red",
    "info": "cyan",
}
_MARK = {"start": "…", "done": "✓", "noop": "=", "skip": "-", "fail": "✗", "info": "·"}


def reporter(mode: Mode) -> Reporter:
    """The reporter for an output mode (lines only: no footer)."""
    if mode == "quiet":
        from swarmredis.engine.events import silent

        return silent
    if mode == "json":
        return _json_line
    return _human_line


@contextmanager
def reporting(mode: Mode) -> Iterator[Reporter]:
    """The reporter for a long operation: ``reporter(mode)``, with the live footer when
    people watch a terminal. The footer is gone when the block ends."""
    if mode != "human" or not console.is_terminal:
        yield reporter(mode)
        return
    bars = Bars()
    try:
        yield bars
    finally:
        bars.close()


def _json_line(event: Event) -> None:
    print_json_line({"event": event.to_dict()})


def _human_line(event: Event) -> None:
    if event.status == "start" and event.step == "apply":
        return  # the "done" line follows at once; keep the output to confirmed facts
    style = _STYLE.get(event.status, "")
    mark = _MARK.get(event.status, " ")
    console.print(
        f"[{style}]{mark}[/] [bold]{event.step:<9}[/] {event.subject:<28} {event.detail}",
        highlight=False,
        soft_wrap=True,
    )


class Bars:
    """A reporter that prints the lines and keeps a footer of bars and a spinner."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.progress.start()
        self.now: TaskID = self.progress.add_task("starting", total=None)
        self.bars: dict[str, TaskID] = {}

    def __call__(self, event: Event) -> None:
        _human_line(event)
        self.progress.update(self.now, description=f"{event.step} {event.subject}")
        data: dict[str, Any] = event.data
        if event.step == "plan" and event.status == "done" and "changes" in data:
            task = self._bar("apply", "applying changes", int(data["changes"]))
            self.progress.reset(task, total=max(int(data["changes"]), 1))  # each deploy
        elif event.step == "apply" and event.status in ("done", "noop") and "apply" in self.bars:
            self.progress.advance(self.bars["apply"])
        if "total" in data and "slots" in data:
            task = self._bar("slots", "moving slots", int(data["total"]))
            self.progress.update(task, completed=int(data["slots"]))

    def _bar(self, key: str, description: str, total: int) -> TaskID:
        if key not in self.bars:
            self.bars[key] = self.progress.add_task(description, total=max(total, 1))
        return self.bars[key]

    def close(self) -> None:
        self.progress.stop()
