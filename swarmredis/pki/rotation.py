"""CA rotation in the store, crash-safe, and the record of a running ``certs rotate``.

A CA rotation runs in three phases, each rolled out by a deploy, so that no node ever
meets a peer certificate it does not trust:

1. ``start_ca_rotation``: a new CA signs from now on; ``ca.crt`` trusts old + new. The
   new CA is also certified by the old one (``ca-cross.crt``): nodes serve it after their
   new leaf, so a client that still holds only the old CA keeps verifying them.
2. leaves signed by the previous CA are re-issued by the new one (``manage.issue``).
3. ``finish_ca_rotation``: ``ca.crt`` trusts only the new CA, nodes serve the leaf alone.

``start_ca_rotation`` stages the new CA (``ca-next.key``, ``ca-cross.crt``, then
``ca-next.crt`` last) before it touches a live file, so that a run killed at any point
is finished by the next one and no CA key is ever lost.

The record (``rotation.json``) says which rotation runs and the phase it reached; ``certs
rotate`` writes it before its first change and removes it after its last.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from swarmredis.errors import PKIError
from swarmredis.pki.ca import CA_DAYS, CertKey, NameLimits, build_ca
from swarmredis.pki.keys import KeyType, key_to_pem, key_type_of, signature_hash
from swarmredis.pki.leaf import Reason
from swarmredis.pki.manage import (
    LeafCheck,
    PassphraseSource,
    Trust,
    _sync_bundle,
    cert_pem,
    check_leaves,
    env_passphrase,
    load_signer,
    load_trust,
)
from swarmredis.pki.model import StackPKI
from swarmredis.pki.store import CertStore

RotationKind = Literal["leaves", "ca"]


class Phase(StrEnum):
    """Where a ``certs rotate`` run stands (see the module's docstring)."""

    LEAVES = "leaves"  # re-issued leaves rolling out
    START = "start"  # the new CA being created
    TRUST = "trust"  # ca.crt with both CAs rolling out
    REISSUE = "reissue"  # the new CA's leaves rolling out
    FINISH = "finish"  # ca.crt with the new CA alone rolling out


@dataclass(frozen=True)
class RotationRecord:
    """A ``certs rotate`` in progress: its kind, phase, start, and for ``--force`` the
    serials (hex) of the leaves it replaces, so that a re-run does not replace them twice."""

    kind: RotationKind
    phase: Phase
    started: str
    replace: tuple[str, ...] = ()

    def at(self, phase: Phase) -> RotationRecord:
        return RotationRecord(self.kind, phase, self.started, self.replace)


def read_record(store: CertStore) -> RotationRecord | None:
    """The record of an interrupted ``certs rotate`` (``None``: none runs)."""
    if not store.exists(store.rotation):
        return None
    try:
        data = json.loads(store.read(store.rotation))
        return RotationRecord(
            kind=data["kind"],
            phase=Phase(data["phase"]),
            started=str(data["started"]),
            replace=tuple(str(s) for s in data.get("replace", ())),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise PKIError(
            f"{store.show(store.rotation)}: not a rotation record ({error})",
            hint="it is written by `swarmredis certs rotate`; restore it from a backup, "
            "or remove it and run the rotation again",
        ) from None


def write_record(store: CertStore, record: RotationRecord) -> None:
    body = {**asdict(record), "replace": list(record.replace)}
    store.write(store.rotation, json.dumps(body, indent=2).encode() + b"\n", secret=False)


def clear_record(store: CertStore) -> None:
    store.remove(store.rotation)


def serial_hex(cert: x509.Certificate) -> str:
    return f"{cert.serial_number:x}"


def cross_certificate(new: x509.Certificate, old: CertKey) -> x509.Certificate:
    """The new CA certified by the old one: same subject, key and extensions as ``new``,
    issued and signed by ``old``, valid as long as both are. Its issuer name equals its
    subject (both CAs carry the stack's CA name), so it is self-issued and does not count
    against the old CA's path length of 0 (RFC 5280, 4.2.1.9)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(new.subject)
        .issuer_name(old.cert.subject)
        .public_key(new.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(new.not_valid_before_utc, old.cert.not_valid_before_utc))
        .not_valid_after(min(new.not_valid_after_utc, old.cert.not_valid_after_utc))
    )
    for extension in new.extensions:
        if isinstance(extension.value, x509.AuthorityKeyIdentifier):
            continue
        builder = builder.add_extension(extension.value, critical=extension.critical)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(old.key.public_key()),
        critical=False,
    )
    return builder.sign(old.key, signature_hash(old.key))


def ca_rotation_started(store: CertStore) -> bool:
    """Whether the store is in a CA rotation: the previous CA is still trusted."""
    return store.exists(store.ca_previous)


def ca_started_fully(store: CertStore) -> bool:
    """Whether a started CA rotation made its new CA current (nothing staged is left)."""
    return ca_rotation_started(store) and not store.exists(store.ca_next)


def start_ca_rotation(
    store: CertStore,
    *,
    now: datetime,
    key_type: KeyType | None = None,
    days: int = CA_DAYS,
    passphrase: bytes | None = None,
    old_passphrase: PassphraseSource = env_passphrase,
    limits: NameLimits | None = None,
) -> x509.Certificate:
    """Phase 1: a new current CA; the old one stays trusted and certifies the new one.

    Returns the new CA's certificate. Finishes a start that was interrupted."""
    if ca_rotation_started(store) and not _staged(store):
        raise PKIError(
            f"a CA rotation is already in progress ({store.show(store.ca_previous)} exists)",
            hint=f"finish it with `swarmredis certs rotate {store.stack_file} --ca`",
        )
    if not _staged(store):
        old_cert = store.read_cert(store.ca_current)
        # a lost CA key is replaced by a rotation: then nothing certifies the new CA
        old = load_signer(store, old_passphrase) if store.exists(store.ca_key) else None
        if key_type is None:
            key_type = key_type_of(old_cert.public_key())
        new = build_ca(store.stack, now=now, key_type=key_type, days=days, limits=limits)
        store.write(store.ca_next_key, key_to_pem(new.key, passphrase), secret=True)
        store.remove(store.ca_cross)
        if old is not None:
            cross = cert_pem([cross_certificate(new.cert, old)])
            store.write(store.ca_cross, cross, secret=False)
        store.write(store.ca_next, cert_pem([new.cert]), secret=False)  # staged: complete
    return _commit_staged(store)


def _staged(store: CertStore) -> bool:
    """A new CA fully staged (``ca-next.crt`` is written last); a partial stage is wiped."""
    if store.exists(store.ca_next):
        return True
    store.remove(store.ca_next_key)
    return False


def _commit_staged(store: CertStore) -> x509.Certificate:
    """Make the staged CA current; every step can be run again."""
    new = store.read_cert(store.ca_next)
    current = store.read_cert(store.ca_current)
    if current != new:  # else the old CA is already in ca-previous.crt
        store.write(store.ca_previous, cert_pem([current]), secret=False)
    store.write(store.ca_key, store.read_secret(store.ca_next_key), secret=True)
    store.write(store.ca_current, cert_pem([new]), secret=False)
    _sync_bundle(store, Trust(new, store.read_cert(store.ca_previous)))
    store.remove(store.ca_next)
    store.remove(store.ca_next_key)
    return new


def stale_leaves(store: CertStore, spec: StackPKI, *, now: datetime) -> list[LeafCheck]:
    """The leaves that a finished rotation would leave untrusted: missing, or not
    signed by the new CA."""
    blocking = {Reason.MISSING, Reason.PREVIOUS_CA, Reason.UNTRUSTED}
    return [c for c in check_leaves(store, spec, now=now) if blocking & set(c.reasons)]


def finish_ca_rotation(store: CertStore, spec: StackPKI, *, now: datetime) -> bool:
    """Phase 3: stop trusting the previous CA (every leaf re-issued first). ``False``
    when no rotation was in progress (a re-run after the files changed)."""
    if not ca_rotation_started(store):
        _sync_bundle(store, Trust(load_trust(store).current))
        store.remove(store.ca_cross)
        return False
    stale = stale_leaves(store, spec, now=now)
    if stale:
        raise PKIError(
            "not every certificate is signed by the new CA yet: "
            + ", ".join(c.name for c in stale),
            hint=f"run `swarmredis certs rotate {store.stack_file} --ca` (it re-issues them)",
        )
    current = load_trust(store).current
    store.remove(store.ca_previous)
    store.remove(store.ca_cross)
    _sync_bundle(store, Trust(current))
    return True


def served_chain(store: CertStore, leaf_pem: bytes) -> bytes:
    """What a node serves: its leaf, and during a CA rotation, after a leaf of the new CA,
    the new CA as certified by the old one (for clients that trust only the old CA)."""
    if not (store.exists(store.ca_cross) and ca_rotation_started(store)):
        return leaf_pem
    leaf = x509.load_pem_x509_certificate(leaf_pem)
    if leaf.issuer != load_trust(store).current.subject or not _signed_by_current(store, leaf):
        return leaf_pem
    return leaf_pem + store.read(store.ca_cross)


def _signed_by_current(store: CertStore, leaf: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(load_trust(store).current)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def leaf_rotation(serials: list[str], now: datetime) -> RotationRecord:
    """The record of a ``--force`` leaf rotation replacing the leaves of ``serials``."""
    return RotationRecord("leaves", Phase.LEAVES, now.isoformat(), tuple(serials))
