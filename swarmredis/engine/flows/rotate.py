"""``certs rotate``: leaves (those due, or every one with ``--force``) or the whole CA
re-issued and rolled out by deploys, under one hold of the stack's lock.

A deploy rolls changed secrets out node by node, replicas first, a primary only after a
coordinated failover to a linked, caught-up replica, health checked after each node
(``flows/rolling.py``), and removes the old secret versions at the end. This module
decides what to re-issue and in which phases; the record in the store
(``pki/rotation.py``) says which phase a run reached, so that an interrupted run
(SIGINT, SIGKILL, host loss) is continued by the next one from there. The Swarm holds
the same record (``engine/swarm/rotation.py``): a run with a store that does not know a
rotation the Swarm records refuses to start another.

Leaves are always re-issued for the nodes the stack has live (a scaled stack's names),
from ``flows/plan.read_live``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import anyio

from swarmredis.engine.events import Event, Reporter, silent
from swarmredis.engine.flows.deploy import DeployResult, check_deployable, deploy_held
from swarmredis.engine.flows.plan import DeployOptions, read_live
from swarmredis.engine.flows.status import require_stack
from swarmredis.engine.swarm.lock import stack_lock
from swarmredis.engine.swarm.rotation import (
    clear_rotation,
    read_swarm_rotation,
    record_rotation,
)
from swarmredis.errors import DegradedError, PKIError, RotationStopped, SwarmRedisError
from swarmredis.gateway.docker import DockerGateway
from swarmredis.pki import manage, rotation
from swarmredis.pki.ca import CA_DAYS
from swarmredis.pki.keys import KeyType
from swarmredis.pki.leaf import LEAF_DAYS, RENEW_DAYS, Reason
from swarmredis.pki.manage import LeafCheck, PassphraseSource, env_passphrase
from swarmredis.pki.model import StackPKI
from swarmredis.pki.rotation import Phase, RotationKind, RotationRecord
from swarmredis.pki.store import CertStore
from swarmredis.stackfile import Stack

T = TypeVar("T")
CA_PHASES = (Phase.START, Phase.TRUST, Phase.REISSUE, Phase.FINISH)
WHAT = {
    Phase.LEAVES: "roll out the re-issued leaves",
    Phase.START: "create the new CA (the old one certifies it)",
    Phase.TRUST: "roll out ca.crt with the old and the new CA",
    Phase.REISSUE: "re-issue every leaf from the new CA and roll them out",
    Phase.FINISH: "roll out ca.crt with the new CA alone (clients need the new CA from here)",
}


@dataclass(frozen=True)
class RotateOptions:
    """Knobs of one ``certs rotate`` run."""

    deploy: DeployOptions
    stack_file: str = "STACKFILE"  # as the user typed it, for messages
    ca: bool = False
    force: bool = False
    leaf_days: int = LEAF_DAYS
    renew_days: int = RENEW_DAYS
    ca_days: int = CA_DAYS
    key_type: KeyType | None = None  # of a new CA (None: that of the current one)
    passphrase: PassphraseSource = env_passphrase  # of the CA key, when it is encrypted
    new_passphrase: bytes | None = None  # to encrypt a new CA's key with


@dataclass
class RotateResult:
    """What one run did (or, planned only, would do)."""

    stack: str
    kind: RotationKind
    resumed: Phase | None  # the phase an interrupted run had reached
    phases: list[Phase] = field(default_factory=list)  # run (or to run) in order
    reissued: list[str] = field(default_factory=list)  # "kind name"
    deploys: list[DeployResult] = field(default_factory=list)
    planned: bool = False

    @property
    def restarted(self) -> list[str]:
        """Services a deploy of this run updated (each a node restarted)."""
        return [name for d in self.deploys for name in d.apply.updated]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "kind": self.kind,
            "planned": self.planned,
            "resumed": self.resumed,
            "phases": [str(p) for p in self.phases],
            "reissued": self.reissued,
            "restarted": self.restarted,
            "deploys": [
                {"changes": d.plan.changes, "updated": d.apply.updated, "timings": d.timings}
                for d in self.deploys
            ],
        }


async def rotate_certs(
    gateway: DockerGateway,
    stack: Stack,
    options: RotateOptions,
    *,
    plan_only: bool = False,
    report: Reporter = silent,
) -> RotateResult:
    """Re-issue and roll out; with ``plan_only``, say what would be done and change nothing."""
    store = CertStore(options.deploy.certs_dir, stack.name, stack_file=options.stack_file)
    await check_deployable(gateway, stack, options.deploy)
    await require_stack(gateway, stack.name)  # rotating is not deploying a new stack
    if plan_only:
        pki = (await read_live(gateway, stack, options.deploy)).pki
        return await anyio.to_thread.run_sync(lambda: _plan(store, pki, options))
    operation = "certs rotate --ca" if options.ca else "certs rotate"
    async with stack_lock(
        gateway, stack.name, operation, wait=options.deploy.lock_timeout, report=report
    ):
        pki = (await read_live(gateway, stack, options.deploy)).pki
        run = _Run(gateway, stack, store, pki, options, report)
        await run.check_swarm_record()
        if options.ca:
            return await run.ca()
        return await run.leaves()


def _plan(store: CertStore, pki: StackPKI, options: RotateOptions) -> RotateResult:
    """The phases and leaves a run would take on from the store's state."""
    now = datetime.now(UTC)
    record = rotation.read_record(store)
    _refuse_mixed(store, record, options)
    if options.ca:
        resumed = record.phase if record and record.kind == "ca" else None
        if resumed is None and rotation.ca_started_fully(store):
            resumed = Phase.TRUST  # started by hand with `certs ca start`
        todo = CA_PHASES[CA_PHASES.index(resumed) if resumed else 0 :]
        leaves = [f"{c.kind} {c.name}" for c in manage.check_leaves(store, pki, now=now)]
        reissue = leaves if Phase.REISSUE in todo else []
        return RotateResult(store.stack, "ca", resumed, list(todo), reissue, planned=True)
    if options.force and record is None:
        due = list(manage.check_leaves(store, pki, now=now))  # a new forced rotation: all
    else:
        due = _due(store, pki, options, record, now)
    resumed = record.phase if record else None
    return RotateResult(
        store.stack,
        "leaves",
        resumed,
        [Phase.LEAVES],
        [f"{c.kind} {c.name}" for c in due],
        planned=True,
    )


def _refuse_mixed(store: CertStore, record: RotationRecord | None, options: RotateOptions) -> None:
    if options.ca:
        return
    if (record and record.kind == "ca") or rotation.ca_rotation_started(store):
        phase = record.phase if record else Phase.TRUST
        raise PKIError(
            f"a CA rotation of {store.stack} is in progress (phase {phase})",
            hint=f"finish it first: `swarmredis certs rotate {store.stack_file} --ca`",
        )


def _due(
    store: CertStore,
    pki: StackPKI,
    options: RotateOptions,
    record: RotationRecord | None,
    now: datetime,
) -> list[LeafCheck]:
    """The leaves to re-issue: due ones; with ``--force``, also every leaf the record says
    this rotation replaces and that still has its old serial."""
    renew = timedelta(days=options.renew_days)
    checks = manage.check_leaves(store, pki, now=now, renew_within=renew)
    replace = set(record.replace) if record else set()
    return [c for c in checks if c.reasons or _serial(store, c) in replace]


def _serial(store: CertStore, check: LeafCheck) -> str | None:
    if Reason.MISSING in check.reasons:
        return None
    try:
        return rotation.serial_hex(store.read_cert(check.cert_path))
    except PKIError:
        return None


@dataclass
class _Run:
    gateway: DockerGateway
    stack: Stack
    store: CertStore
    pki: StackPKI
    options: RotateOptions
    report: Reporter

    def event(self, status: str, detail: str, **data: Any) -> None:
        self.report(Event("rotate", self.stack.name, status, detail, data))

    async def thread(self, fn: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(fn)

    async def check_swarm_record(self) -> None:
        """Refuse when the Swarm records a rotation this store does not know (another
        machine's store, or an older copy of it): its CA and phase live there."""
        seen = await read_swarm_rotation(self.gateway, self.stack.name)
        if seen is None:
            return
        record = await self.thread(lambda: rotation.read_record(self.store))
        if record is not None and record.kind == seen.get("kind"):
            return
        raise PKIError(
            f"{self.stack.name}: the Swarm records a {seen.get('kind')} rotation in phase "
            f"{seen.get('phase')} (started {seen.get('started')}) that the certificate store "
            f"{self.store.show(self.store.root)} does not know",
            hint="run it with the store that started it (--certs-dir); if that store is lost, "
            f"remove the record (docker config rm swarmredis-rotation-{self.stack.name}) and "
            "rotate the CA again from this store",
        )

    async def save(self, record: RotationRecord) -> None:
        """The record, in the store first, then in the Swarm."""
        await self.thread(partial(rotation.write_record, self.store, record))
        await record_rotation(self.gateway, self.stack.name, record)

    async def clear(self) -> None:
        await self.thread(partial(rotation.clear_record, self.store))
        await clear_rotation(self.gateway, self.stack.name)

    async def leaves(self) -> RotateResult:
        now = datetime.now(UTC)
        record: RotationRecord | None = await self.thread(lambda: rotation.read_record(self.store))
        await self.thread(lambda: _refuse_mixed(self.store, record, self.options))
        result = RotateResult(self.stack.name, "leaves", record.phase if record else None)
        if self.options.force and record is None:
            record = await self.thread(lambda: self._every_serial(now))
        if record is not None:
            await self.save(record)
        due = await self.thread(lambda: _due(self.store, self.pki, self.options, record, now))
        issued = await self.thread(lambda: self._reissue(due, now))
        result.reissued = [f"{c.kind} {c.name}" for c in issued]
        for line in result.reissued:
            self.event("info", f"re-issued {line}")
        result.phases.append(Phase.LEAVES)
        await self.deploy(result, Phase.LEAVES, last=True)
        await self.clear()
        return result

    def _every_serial(self, now: datetime) -> RotationRecord:
        checks = manage.check_leaves(self.store, self.pki, now=now)
        serials = [s for s in (_serial(self.store, c) for c in checks) if s]
        return rotation.leaf_rotation(serials, now)

    def _reissue(self, due: list[LeafCheck], now: datetime) -> tuple[LeafCheck, ...]:
        manage.ensure_passwords(self.store, self.pki.password_users())
        return manage.reissue(
            self.store,
            due,
            now=now,
            passphrase=self.options.passphrase,
            days=self.options.leaf_days,
        )

    async def ca(self) -> RotateResult:
        record, resumed = await self.thread(self._ca_record)
        await self.save(record)
        result = RotateResult(self.stack.name, "ca", resumed)
        if resumed is not None:
            self.event("info", f"resuming the CA rotation at phase {resumed}")
        steps: dict[Phase, Callable[[RotateResult], Awaitable[None]]] = {
            Phase.START: self._start,
            Phase.TRUST: self._trust,
            Phase.REISSUE: self._reissue_all,
            Phase.FINISH: self._finish,
        }
        todo = CA_PHASES[CA_PHASES.index(record.phase) :]
        for phase, following in zip(todo, [*todo[1:], None], strict=True):
            result.phases.append(phase)
            self.event("start", f"phase {phase}: {WHAT[phase]}", phase=str(phase))
            await steps[phase](result)
            if following is not None:
                await self.save(record.at(following))
            self.event("done", f"phase {phase}", phase=str(phase))
        await self.clear()
        return result

    def _ca_record(self) -> tuple[RotationRecord, Phase | None]:
        """The CA rotation's record and the phase resumed: the record a killed run left,
        or a new one (a rotation started by hand with `certs ca start` counts as its first
        phase done)."""
        record = rotation.read_record(self.store)
        if record is not None and record.kind == "ca":
            return record, record.phase
        first = Phase.TRUST if rotation.ca_started_fully(self.store) else Phase.START
        return RotationRecord("ca", first, datetime.now(UTC).isoformat()), None

    async def _start(self, result: RotateResult) -> None:
        if rotation.ca_started_fully(self.store):
            return  # killed after the new CA was made current, before the record moved on
        options = self.options
        await self.thread(
            lambda: rotation.start_ca_rotation(
                self.store,
                now=datetime.now(UTC),
                key_type=options.key_type,
                days=options.ca_days,
                passphrase=options.new_passphrase,
                old_passphrase=options.passphrase,
            )
        )

    async def _trust(self, result: RotateResult) -> None:
        await self.deploy(result, Phase.TRUST)

    async def _reissue_all(self, result: RotateResult) -> None:
        await self._reissue_stale(result)
        await self.deploy(result, Phase.REISSUE)
        self.event(
            "info",
            f"every node serves a leaf of the new CA; from the next phase on, clients must "
            f"trust the new CA: {self.store.show(self.store.ca_bundle)}",
        )

    async def _finish(self, result: RotateResult) -> None:
        await self._reissue_stale(result)  # a leaf lost or replaced since: issued anew
        now = datetime.now(UTC)
        await self.thread(lambda: rotation.finish_ca_rotation(self.store, self.pki, now=now))
        await self.deploy(result, Phase.FINISH, last=True)

    async def _reissue_stale(self, result: RotateResult) -> None:
        """Every leaf that is missing or not signed by the new CA, signed by it."""
        now = datetime.now(UTC)

        def stale() -> tuple[LeafCheck, ...]:
            return self._reissue(rotation.stale_leaves(self.store, self.pki, now=now), now)

        issued = await self.thread(stale)
        result.reissued += [f"{c.kind} {c.name}" for c in issued]

    async def deploy(self, result: RotateResult, phase: Phase, *, last: bool = False) -> None:
        """Roll out what the phase changed; a failure stops the run, saying how to resume
        (a degraded stack after the last phase: the rotation is done, exit 1)."""
        try:
            done = await deploy_held(self.gateway, self.stack, self.options.deploy, self.report)
        except DegradedError as error:
            if last:
                await self.clear()
                error.message = f"rotation done, but {error.message}"
                raise
            raise self._stopped(phase, error) from error
        except SwarmRedisError as error:
            raise self._stopped(phase, error) from error
        result.deploys.append(done)

    def _stopped(self, phase: Phase, error: SwarmRedisError) -> RotationStopped:
        flag = " --ca" if self.options.ca else ""
        return RotationStopped(
            f"{self.stack.name}: the rotation stopped in phase {phase} ({WHAT[phase]}): "
            f"{error.message}",
            hint=(error.hint + "; " if error.hint else "")
            + f"fix that, then run `swarmredis certs rotate {self.options.stack_file}{flag}` "
            "again: it resumes from this phase",
            phase=str(phase),
        )
