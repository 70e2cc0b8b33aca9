"""Rendering engine events: a line per node and step for people, JSON lines for scripts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from swarmredis.cli.common import console, print_json_line

if TYPE_CHECKING:
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
    """The reporter for an output mode."""
    if mode == "quiet":
        from swarmredis.engine.events import silent

        return silent
    if mode == "json":
        return _json_line
    return _human_line


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
