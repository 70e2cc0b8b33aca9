"""Stable identities of Redis nodes across scaling (pure).

A node's identity is its index (``node-{index}``, its volume, its published port), its
planned role and its shard. A fresh stack gets the seats of ``topology``'s naming scheme;
a live stack keeps every seat it has when ``shards`` or ``replicas`` change, and only
gains or loses seats:

- more shards: each new shard gets a primary and its replicas at the next free indices;
- fewer shards: the highest shards retire, every seat of them;
- more replicas: each shard's new replicas at the next free indices, shard by shard;
- fewer replicas: each shard's highest-indexed replicas retire.

A retired index is never given again: the node's volume is kept (unless pruned) with its
data and ``nodes.conf``, and a new node on it would come up as the old one.

So no node is ever renamed or re-roled by a change of count (issue 11: today's scheme
ties names to the shard count, so ``shards: 3 -> 4`` re-planned node-4, shard 1's
replica, as shard 4's primary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

SeatRole = Literal["primary", "replica", "standalone"]
Mode = Literal["cluster", "replication", "standalone"]


@dataclass(frozen=True, order=True)
class Seat:
    """One Redis node's identity, for life."""

    index: int
    role: SeatRole = field(compare=False)
    shard: int | None = field(compare=False)  # cluster mode; None otherwise

    @property
    def name(self) -> str:
        return f"node-{self.index}"


class IdentityError(ValueError):
    """The seats found on the Swarm are not a stack's (a shard without its primary...)."""


@dataclass(frozen=True)
class Scaling:
    """What a change of counts keeps, adds and retires (each by index)."""

    keep: tuple[Seat, ...]
    add: tuple[Seat, ...]
    retire: tuple[Seat, ...]

    @property
    def seats(self) -> tuple[Seat, ...]:
        return tuple(sorted(self.keep + self.add))

    @property
    def changes(self) -> bool:
        return bool(self.add or self.retire)


def fresh_seats(mode: Mode, shards: int, replicas: int) -> tuple[Seat, ...]:
    """The seats of a stack deployed for the first time (``topology``'s scheme: cluster
    primaries ``node-1..node-S``, then shard k's replica r at ``S + (k-1)*R + r``)."""
    if mode == "standalone":
        return (Seat(1, "standalone", None),)
    if mode == "replication":
        return (
            Seat(1, "primary", None),
            *(Seat(1 + r, "replica", None) for r in range(1, replicas + 1)),
        )
    seats = [Seat(k, "primary", k) for k in range(1, shards + 1)]
    seats += [
        Seat(shards + (k - 1) * replicas + r, "replica", k)
        for k in range(1, shards + 1)
        for r in range(1, replicas + 1)
    ]
    return tuple(seats)


def scaled_seats(
    mode: Mode, shards: int, replicas: int, existing: Sequence[Seat], *, used: int = 0
) -> Scaling:
    """The seats for ``shards`` x ``replicas`` given the ones a live stack has.

    ``used``: the highest index the stack ever used (its volumes outlive retired
    services): a new seat never takes a retired seat's name, volume or port."""
    if not existing:
        return Scaling((), fresh_seats(mode, shards, replicas), ())
    _check(mode, existing)
    if mode == "standalone":
        return Scaling(tuple(sorted(existing)), (), ())
    groups = _by_shard(mode, existing)
    wanted = range(1, shards + 1) if mode == "cluster" else [None]
    retire = [s for shard, seats in groups.items() if shard not in wanted for s in seats]
    keep: list[Seat] = []
    add: list[Seat] = []
    free = max(used, *(s.index for s in existing)) + 1
    new_shards = [k for k in wanted if k not in groups]
    # Primaries first, as a fresh stack numbers them: new shards', and the primary of a
    # shard whose replicas exist without it (a run killed while it created services).
    headless = [k for k in wanted if k in groups and not _primaries(groups[k])]
    for shard in [*new_shards, *headless]:
        add.append(Seat(free, "primary", shard))
        free += 1
    for shard in wanted:
        seats = groups.get(shard, [])
        primary = _primaries(seats)
        current = sorted(s for s in seats if s.role == "replica")
        keep += primary + current[:replicas]
        retire += current[replicas:]
        for _ in range(replicas - len(current)):
            add.append(Seat(free, "replica", shard))
            free += 1
    return Scaling(tuple(sorted(keep)), tuple(add), tuple(sorted(retire)))


def _by_shard(mode: Mode, existing: Sequence[Seat]) -> dict[int | None, list[Seat]]:
    groups: dict[int | None, list[Seat]] = {}
    for seat in sorted(existing):
        groups.setdefault(seat.shard if mode == "cluster" else None, []).append(seat)
    return groups


def _check(mode: Mode, existing: Sequence[Seat]) -> None:
    """One seat per index, the roles the mode has, at most one primary per shard (none:
    a run was killed before it created it; ``scaled_seats`` gives it one)."""
    indices = [s.index for s in existing]
    if len(set(indices)) != len(indices):
        twice = sorted({i for i in indices if indices.count(i) > 1})
        raise IdentityError(f"node-{twice[0]} is found twice among the stack's services")
    allowed = {"standalone"} if mode == "standalone" else {"primary", "replica"}
    for seat in existing:
        if seat.role not in allowed:
            raise IdentityError(f"{seat.name} is planned as {seat.role}, not a {mode} role")
        if (mode == "cluster") != (seat.shard is not None):
            raise IdentityError(f"{seat.name}: shard {seat.shard} does not fit {mode} mode")
    if mode == "standalone":
        if len(existing) != 1:
            raise IdentityError(f"a standalone stack has one node, found {len(existing)}")
        return
    for shard, seats in _by_shard(mode, existing).items():
        if len(primaries := _primaries(seats)) > 1:
            where = f"shard {shard}" if shard is not None else "the stack"
            found = ", ".join(s.name for s in primaries)
            raise IdentityError(f"{where} has {len(primaries)} planned primaries ({found})")


def _primaries(seats: Sequence[Seat]) -> list[Seat]:
    return [s for s in seats if s.role == "primary"]
