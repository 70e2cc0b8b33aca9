"""The Mode protocol: what every Redis mode does for the flows, and the records it returns.

A mode is one folder (``cluster/``, ``replication/``) or file (``standalone.py``) under
``engine/modes``; ``registry.mode_for`` finds it by the stack's ``mode``. The flows call
only this protocol, never ``if mode == ...``. A new day-2 operation is a flow plus one
method here, implemented by every mode.

Pure: the records and the protocol import no I/O library (the types the protocol names
are imported for type checking only).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from swarmredis.errors import SpecError
from swarmredis.gateway.endpoint import RedisEndpoint
from swarmredis.plan.state import DesiredState
from swarmredis.stackfile.topology import LogicalNode

if TYPE_CHECKING:
    from swarmredis.engine.context import RunContext
    from swarmredis.engine.redis.verdict import NodeHealth, Probe, Verdict
    from swarmredis.plan.tasks import Placed


@dataclass(frozen=True)
class Action:
    """One command the engine ran on a node, and why."""

    node: str
    args: tuple[str, ...]
    reason: str

    @property
    def command(self) -> str:
        return " ".join(self.args)

    def __str__(self) -> str:
        return f"{self.node}: {self.command} ({self.reason})"


@dataclass
class BootstrapReport:
    """What bootstrap did (``actions``) and what it saw but left alone (``notes``)."""

    mode: str
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # phase -> seconds, in order
    fresh: bool | None = None  # the nodes held no cluster yet (None: the mode cannot tell)

    @property
    def nothing_to_do(self) -> bool:
        return not self.actions

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        """Add the time spent in the block to ``phases[phase]`` (also when it raises)."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.since(phase, start)

    def since(self, phase: str, start: float) -> None:
        """Add the time from ``start`` (``time.monotonic()``) to now to ``phases[phase]``."""
        self.phases[phase] = self.phases.get(phase, 0.0) + time.monotonic() - start

    def lines(self) -> list[str]:
        """Lines for people: the actions, or "nothing to do", then the notes."""
        done = [str(a) for a in self.actions] or ["nothing to do"]
        return done + [f"note: {n}" for n in self.notes]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "mode": self.mode,
            "actions": [
                {"node": a.node, "command": a.command, "reason": a.reason} for a in self.actions
            ],
            "notes": list(self.notes),
            "phases": {phase: round(seconds, 3) for phase, seconds in self.phases.items()},
            "fresh": self.fresh,
        }


@dataclass(frozen=True)
class Member:
    """A node the engine dials: a name for messages, where, and the name its certificate
    carries."""

    name: str
    endpoint: RedisEndpoint
    server_name: str | None = None


def endpoint_of(desired: DesiredState, node: LogicalNode) -> RedisEndpoint:
    """Where the engine dials a node: its host's address and its published TLS port."""
    if node.published_port is None:
        raise SpecError(f"{node.name} publishes no port; the engine cannot reach it")
    return RedisEndpoint(desired.assignment.addresses[node.name], node.published_port)


def member_of(desired: DesiredState, node: LogicalNode) -> Member:
    """A node as the engine dials it."""
    return Member(node.name, endpoint_of(desired, node), server_name=node.alias)


Handover = tuple[str, str]  # (node that gave its slots or primary role, node that took them)
Removal = Callable[[], Awaitable[None]]  # removes the retiring nodes' services and objects


class Mode(Protocol):
    """What a Redis mode does; each method is one step of a flow."""

    @property
    def name(self) -> str:
        """The stack file's ``mode``."""
        ...

    @property
    def reads_cluster(self) -> bool:
        """Whether its data nodes have cluster facts (CLUSTER NODES/INFO) to read."""
        ...

    @property
    def hands_over(self) -> bool:
        """Whether a primary's work can move to a linked replica before it restarts (a
        rolling update without downtime needs one per restarting primary)."""
        ...

    @property
    def settings(self) -> tuple[str, ...]:
        """The ``CONFIG GET`` settings its health rules read on every data node."""
        ...

    def claims(self, planned_roles: set[str], sharded: bool) -> bool:
        """Whether a running stack whose services carry these planned-role labels (and
        shard labels, when ``sharded``) is of this mode (``status`` has no stack file)."""
        ...

    def members(self, desired: DesiredState, placed: Mapping[str, Placed]) -> list[Member]:
        """Every Redis node and Sentinel of the stack, as the engine dials them."""
        ...

    async def bootstrap(
        self, run: RunContext, desired: DesiredState, placed: Mapping[str, Placed]
    ) -> BootstrapReport:
        """Bring the converged services to the planned topology (only what is missing) and
        wait until it is whole; never re-creates or resets anything."""
        ...

    def judge(self, probes: Sequence[Probe], lines: dict[str, NodeHealth]) -> Verdict:
        """The mode's own health rules (pure): cluster summary and problems."""
        ...

    async def before_restart(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        restarting: Sequence[str],
    ) -> list[Handover]:
        """Move what the restarting nodes serve (slots, the primary role) to linked
        replicas outside the batch, losing no acknowledged write; returns the handovers."""
        ...

    async def restore_roles(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        touched: set[str] | None,
    ) -> list[Action]:
        """Hand what failovers moved back to the planned primaries (only the shards or
        role of ``touched`` nodes, or everything when None); returns what was done."""
        ...

    async def retire(
        self,
        run: RunContext,
        desired: DesiredState,
        placed: Mapping[str, Placed],
        remove: Removal,
    ) -> list[Action]:
        """Take ``desired.retiring`` out of the stack with nothing lost: what they serve
        moves to the kept nodes, the others stop knowing them, and ``remove`` (which
        removes their services) runs at the point the mode's order puts it; returns what
        was done. Runs after ``bootstrap``, on a whole stack."""
        ...
