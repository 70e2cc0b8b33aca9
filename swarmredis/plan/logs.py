"""The stack's logs (pure): Docker's service log lines -> records of node, host and time,
merged in time order; and the ``--since`` argument.

A line of ``GET /services/{id}/logs`` with timestamps and details on reads
``2026-12-07T08:56:35.8074408Z com.docker.swarm.node.id=N,com.docker.swarm.service.id=S,``
``com.docker.swarm.task.id=T <text>`` (one line, no space in the details). Docker trims
trailing zeros of the nanoseconds, so times are compared as integers.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, order=True)
class LogLine:
    """One line a node or Sentinel wrote; ordered by time (then node)."""

    nanos: int  # since the epoch, UTC
    node: str
    host: str
    task: str
    text: str

    @property
    def time(self) -> str:
        """RFC 3339, microseconds, UTC."""
        at = datetime.fromtimestamp(self.nanos // 1000 / 1e6, UTC)
        return at.isoformat(timespec="microseconds").replace("+00:00", "Z")

    def to_dict(self) -> dict[str, str]:
        return {
            "time": self.time,
            "node": self.node,
            "host": self.host,
            "task": self.task,
            "text": self.text,
        }


def _nanos(stamp: str) -> int | None:
    found = _TIME.match(stamp)
    if found is None:
        return None
    whole = datetime.fromisoformat(found.group(1)).replace(tzinfo=UTC)
    fraction = (found.group(2) or "").ljust(9, "0")
    return int(whole.timestamp()) * 1_000_000_000 + int(fraction)


def parse_line(raw: str, node: str, hosts: Mapping[str, str]) -> LogLine | None:
    """A line of ``node``'s service log (``hosts``: Swarm node id -> hostname); None for a
    line not in that form (a line without a timestamp cannot be placed in time)."""
    stamp, _, rest = raw.partition(" ")
    nanos = _nanos(stamp)
    if nanos is None:
        return None
    details, _, text = rest.partition(" ")
    if "com.docker.swarm." not in details:  # no details: the text starts at once
        details, text = "", rest
    attrs = dict(pair.partition("=")[::2] for pair in details.split(",") if "=" in pair)
    host_id = attrs.get("com.docker.swarm.node.id", "")
    return LogLine(
        nanos,
        node,
        hosts.get(host_id, host_id[:12] or "?"),
        attrs.get("com.docker.swarm.task.id", "")[:12],
        text,
    )


def merged(streams: Iterable[Sequence[LogLine]]) -> list[LogLine]:
    """Several nodes' lines (each in time order, as Docker gives them) in one time order."""
    return list(heapq.merge(*(sorted(s) for s in streams)))


def since_timestamp(text: str, now: datetime) -> float:
    """``--since``: a duration back from ``now`` (``90s``, ``10m``, ``2h``, ``1d``), an
    RFC 3339 time (``2026-12-07T08:00:00Z``) or Unix seconds -> Unix seconds. ValueError
    says what is accepted."""
    if (found := _DURATION.match(text)) is not None:
        back = float(found.group(1)) * _UNITS[found.group(2)]
        return (now - timedelta(seconds=back)).timestamp()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a duration (90s, 10m, 2h, 1d), an RFC 3339 time"
            " (2026-12-07T08:00:00Z) or Unix seconds"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def prefix(line: LogLine, width: int) -> str:
    """``node@host`` padded to ``width``, for the plain output."""
    return f"{line.node}@{line.host}".ljust(width)
