"""Password rotation in the store: a new password next to the previous one, both valid on
the nodes until the rotation finishes (``users rotate``, ``users rotate --finish``).

``users/<user>.previous.password`` exists exactly while a rotation of ``user`` runs. It
is written before the new password, so a run killed in between is resumed by the next
one (which then makes the new password), and never two rotations of a user overlap.
"""

from __future__ import annotations

from collections.abc import Iterable

from swarmredis.errors import PKIError
from swarmredis.pki import acl
from swarmredis.pki.store import CertStore


def previous_password(store: CertStore, user: str) -> str | None:
    """The password ``user`` had before a rotation that has not finished (else ``None``)."""
    path = store.previous_password_file(user)
    return store.read_password_file(path) if store.exists(path) else None


def previous_passwords(store: CertStore, users: Iterable[str]) -> dict[str, str]:
    """The users in a rotation and their previous passwords."""
    out = {}
    for user in users:
        old = previous_password(store, user)
        if old is not None and old != store.read_password(user):
            out[user] = old
    return out


def start_password_rotation(store: CertStore, user: str) -> tuple[str, str, bool]:
    """A new password for ``user``, the previous one kept: ``(new, old, resumed)``.
    A rotation already under way keeps its new password (``resumed``)."""
    current = store.read_password(user)
    old = previous_password(store, user)
    if old is not None and old != current:
        return current, old, True
    if old is None:
        store.write(store.previous_password_file(user), current.encode("ascii"), secret=True)
    new = acl.new_password()
    store.write(store.password_file(user), new.encode("ascii"), secret=True)
    return new, current, old is not None


def password_to_retire(store: CertStore, user: str) -> str:
    """The previous password that ``users rotate --finish`` removes. A rotation killed
    before it made its new password has none: removing "the previous" one then would
    remove the only one, so that is refused."""
    old = previous_passwords(store, [user]).get(user)
    if old is None:
        raise PKIError(
            f"no password rotation of {user!r} to finish",
            hint=f"start one (or let a killed one make its new password) with "
            f"`swarmredis users rotate {store.stack_file} {user}`",
        )
    return old


def finish_password_rotation(store: CertStore, user: str) -> None:
    """Forget the previous password (after the nodes stopped accepting it)."""
    store.remove(store.previous_password_file(user))
