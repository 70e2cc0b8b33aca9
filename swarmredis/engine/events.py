"""Progress events: what the engine tells whoever watches (rich lines, JSON lines, nothing).

The engine reports only what it confirmed: an object is "done" after the engine's
answer, a node is "running" after its task was seen running on the planned host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """One step of one object: ``step`` (apply, converge, bootstrap, health...) and status."""

    step: str
    subject: str
    status: str  # start | done | noop | skip | fail | info
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (one line of ``--json`` output)."""
        out: dict[str, Any] = {
            "step": self.step,
            "subject": self.subject,
            "status": self.status,
        }
        if self.detail:
            out["detail"] = self.detail
        if self.data:
            out["data"] = self.data
        return out


class Reporter(Protocol):
    """Receives events; must not block (called from the event loop)."""

    def __call__(self, event: Event) -> None: ...


def silent(event: Event) -> None:
    """A reporter that drops everything (``--quiet``, tests)."""
