"""How long to wait between two polls of a condition (pure; the callers sleep).

Every wait of the engine that cannot listen for an event polls: the task list while
services converge, a node's port while it starts, the nodes' views while a cluster forms.
A poll starts a few milliseconds after the change it waits for could have happened, so
the delays start short (``first``) and grow to ``cap``; they are never shorter than the
last check took, so a slow check (hundreds of nodes) never takes more than half of the
time it is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays between polls: ``first``, growing by ``factor`` to ``cap`` (seconds)."""

    first: float = 0.05
    factor: float = 1.5
    cap: float = 0.25
    _next: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._next = self.first

    def delay(self, took: float = 0.0) -> float:
        """The next delay, after a check that took ``took`` seconds."""
        delay = max(self._next, took)
        self._next = min(self._next * self.factor, self.cap)
        return delay
