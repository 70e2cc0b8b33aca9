"""Certificate status for ``certs status`` and monitoring (pure: the clock is an argument).

Exit codes: 0 every certificate valid beyond the warning window, 1 at least one
inside it, 2 at least one expired or missing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from cryptography import x509

from swarmredis.pki.leaf import names_of, render_name

CertKind = Literal["ca", "ca-previous", "node", "client"]
WARN_DAYS = 30
_DAY = timedelta(days=1)


class State(StrEnum):
    """Health of one certificate."""

    OK = "ok"
    WARNING = "warning"
    EXPIRED = "expired"
    MISSING = "missing"


_EXIT = {State.OK: 0, State.WARNING: 1, State.EXPIRED: 2, State.MISSING: 2}


@dataclass(frozen=True)
class CertInfo:
    """What ``certs status`` shows about one certificate file."""

    kind: CertKind
    name: str
    path: str
    state: State
    subject: str | None = None
    sans: tuple[str, ...] = ()
    not_after: datetime | None = None
    days_left: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO 8601)."""
        return {
            "kind": self.kind,
            "name": self.name,
            "path": self.path,
            "state": self.state.value,
            "subject": self.subject,
            "sans": list(self.sans),
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "days_left": self.days_left,
        }


def inspect(
    cert: x509.Certificate | None,
    *,
    kind: CertKind,
    name: str,
    path: str,
    now: datetime,
    warn_within: timedelta = timedelta(days=WARN_DAYS),
) -> CertInfo:
    """Status of ``cert`` at ``now`` (``None`` means the file is missing)."""
    if cert is None:
        return CertInfo(kind, name, path, State.MISSING)
    not_after = cert.not_valid_after_utc
    left = not_after - now
    if left <= timedelta(0):
        state = State.EXPIRED
    elif left <= warn_within:
        state = State.WARNING
    else:
        state = State.OK
    return CertInfo(
        kind=kind,
        name=name,
        path=path,
        state=state,
        subject=cert.subject.rfc4514_string(),
        sans=tuple(render_name(n) for n in names_of(cert)),
        not_after=not_after,
        days_left=left // _DAY,
    )


def exit_code(infos: Iterable[CertInfo]) -> int:
    """0 all fine, 1 one inside the warning window, 2 one expired or missing."""
    return max((_EXIT[i.state] for i in infos), default=2)
