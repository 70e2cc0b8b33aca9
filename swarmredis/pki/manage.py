"""PKI operations on a stack's store: init, issue, status, rotation (file I/O, no network).

The decisions are made by the pure builders (``ca``, ``leaf``, ``acl``,
``status``); this module reads what exists, asks them what to do and writes
the result through ``CertStore``. The CA key is only read (and its passphrase
only asked for) when something has to be signed.

The CA rotation's own steps live in ``rotation``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from swarmredis.errors import PKIError
from swarmredis.pki import acl
from swarmredis.pki.ca import CA_DAYS, CertKey, NameLimits, build_ca
from swarmredis.pki.keys import (
    KeyType,
    PrivateKey,
    is_encrypted_pem,
    key_to_pem,
    load_key,
    public_der,
)
from swarmredis.pki.leaf import LEAF_DAYS, RENEW_DAYS, Reason, issue_client, issue_server
from swarmredis.pki.leaf import renewal_reasons as _reasons
from swarmredis.pki.model import StackPKI
from swarmredis.pki.status import WARN_DAYS, CertInfo, CertKind, inspect
from swarmredis.pki.store import CertStore

PASSPHRASE_ENV = "SWARMREDIS_CA_PASSPHRASE"
PassphraseSource = Callable[[], bytes | None]
LeafKind = Literal["node", "client"]


def env_passphrase() -> bytes | None:
    """The CA passphrase from ``SWARMREDIS_CA_PASSPHRASE`` (``None`` when unset)."""
    value = os.environ.get(PASSPHRASE_ENV)
    return value.encode("utf-8") if value else None


def cert_pem(certs: Iterable[x509.Certificate]) -> bytes:
    """PEM of one or more certificates, concatenated."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


@dataclass(frozen=True)
class Trust:
    """The CAs leaves may be signed by: the current one and, during rotation, the previous."""

    current: x509.Certificate
    previous: x509.Certificate | None = None

    def bundle(self) -> tuple[x509.Certificate, ...]:
        """The trust bundle, current CA first."""
        return (self.current,) if self.previous is None else (self.current, self.previous)


@dataclass(frozen=True)
class LeafCheck:
    """One leaf certificate of the stack and why it must be (re-)issued."""

    kind: LeafKind
    name: str
    cert_path: Path
    key_path: Path
    names: tuple[x509.GeneralName, ...] | None  # SANs it must carry (None: client)
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class IssueReport:
    """What ``issue`` did."""

    issued: tuple[LeafCheck, ...]
    unchanged: tuple[LeafCheck, ...]
    new_passwords: tuple[str, ...]


def has_ca(store: CertStore) -> bool:
    """Whether the store holds a CA (certificate and key)."""
    cert, key = store.exists(store.ca_current), store.exists(store.ca_key)
    if cert != key:
        present, absent = (
            (store.ca_current, store.ca_key) if cert else (store.ca_key, store.ca_current)
        )
        raise PKIError(
            f"{store.show(absent)}: missing while {store.show(present)} exists",
            hint="restore it from a backup, or move the store away and run "
            f"`swarmredis certs init {store.stack_file}`",
        )
    return cert


def init_ca(
    store: CertStore,
    *,
    now: datetime,
    key_type: KeyType = KeyType.ECDSA_P256,
    days: int = CA_DAYS,
    passphrase: bytes | None = None,
    limits: NameLimits | None = None,
) -> bool:
    """Create the stack's CA unless it exists; ``True`` when one was created."""
    if has_ca(store):
        return False
    ca = build_ca(store.stack, now=now, key_type=key_type, days=days, limits=limits)
    _write_ca(store, ca, passphrase)
    _sync_bundle(store, Trust(ca.cert))
    return True


def _write_ca(store: CertStore, ca: CertKey, passphrase: bytes | None) -> None:
    store.write(store.ca_key, key_to_pem(ca.key, passphrase), secret=True)
    store.write(store.ca_current, cert_pem([ca.cert]), secret=False)


def _sync_bundle(store: CertStore, trust: Trust) -> None:
    data = cert_pem(trust.bundle())
    if not store.exists(store.ca_bundle) or store.read(store.ca_bundle) != data:
        store.write(store.ca_bundle, data, secret=False)


def load_trust(store: CertStore) -> Trust:
    """The current CA and, during a rotation, the previous one."""
    current = store.read_cert(store.ca_current)
    previous = store.read_cert(store.ca_previous) if store.exists(store.ca_previous) else None
    return Trust(current, previous)


def load_signer(store: CertStore, passphrase: PassphraseSource) -> CertKey:
    """The current CA with its key, asking ``passphrase`` only if the key is encrypted."""
    cert = store.read_cert(store.ca_current)
    data = store.read_secret(store.ca_key)
    secret = passphrase() if is_encrypted_pem(data) else None
    key = load_key(data, source=store.show(store.ca_key), passphrase=secret)
    if public_der(key) != public_der(cert.public_key()):
        raise PKIError(
            f"{store.show(store.ca_key)} does not belong to {store.show(store.ca_current)}",
            hint="an interrupted rotation? restore both files from the same backup",
        )
    return CertKey(cert, key)


def check_leaves(
    store: CertStore,
    spec: StackPKI,
    *,
    now: datetime,
    renew_within: timedelta = timedelta(days=RENEW_DAYS),
) -> tuple[LeafCheck, ...]:
    """Every leaf the stack needs, with the reasons it must be (re-)issued."""
    trust = load_trust(store)
    wanted: list[tuple[LeafKind, str, tuple[x509.GeneralName, ...] | None]] = [
        ("node", node.name, node.names()) for node in spec.nodes
    ]
    wanted += [("client", user, None) for user in spec.client_users()]
    checks = []
    for kind, name, names in wanted:
        cert_path, key_path = _leaf_paths(store, kind, name)
        cert, key = _read_leaf(store, cert_path, key_path)
        reasons = _reasons(
            cert,
            key,
            current_ca=trust.current,
            trusted=trust.bundle(),
            names=names,
            now=now,
            renew_within=renew_within,
        )
        checks.append(LeafCheck(kind, name, cert_path, key_path, names, reasons))
    return tuple(checks)


def _leaf_paths(store: CertStore, kind: LeafKind, name: str) -> tuple[Path, Path]:
    if kind == "node":
        return store.node_cert(name), store.node_key(name)
    return store.client_cert(name), store.client_key(name)


def _read_leaf(
    store: CertStore, cert_path: Path, key_path: Path
) -> tuple[x509.Certificate | None, PrivateKey | None]:
    # An unreadable leaf is re-issued (it is overwritten), so it counts as missing.
    try:
        return store.read_cert(cert_path), store.read_key(key_path)
    except PKIError:
        return None, None


def issue(
    store: CertStore,
    spec: StackPKI,
    *,
    now: datetime,
    passphrase: PassphraseSource = env_passphrase,
    days: int = LEAF_DAYS,
    renew_within: timedelta = timedelta(days=RENEW_DAYS),
    skip: Collection[Reason] = (),
) -> IssueReport:
    """Create passwords and (re-)issue the leaves that need it; idempotent.

    A leaf whose only reasons are in ``skip`` is left alone.
    """
    checks = check_leaves(store, spec, now=now, renew_within=renew_within)  # needs the CA
    new_passwords = ensure_passwords(store, spec.password_users())
    todo = reissue(
        store,
        [c for c in checks if set(c.reasons) - set(skip)],
        now=now,
        passphrase=passphrase,
        days=days,
    )
    unchanged = tuple(c for c in checks if c not in todo)
    return IssueReport(todo, unchanged, new_passwords)


def reissue(
    store: CertStore,
    checks: Iterable[LeafCheck],
    *,
    now: datetime,
    passphrase: PassphraseSource = env_passphrase,
    days: int = LEAF_DAYS,
) -> tuple[LeafCheck, ...]:
    """Sign the leaves of ``checks`` anew, whatever their state (``certs rotate --force``)."""
    todo = tuple(checks)
    if todo:
        signer = load_signer(store, passphrase)
        for check in todo:
            _issue_one(store, signer, check, now=now, days=days)
    _sync_bundle(store, load_trust(store))
    return todo


def _issue_one(
    store: CertStore, signer: CertKey, check: LeafCheck, *, now: datetime, days: int
) -> None:
    if check.names is None:
        leaf = issue_client(signer, user=check.name, now=now, days=days)
    else:
        common_name = next(
            (n.value for n in check.names if isinstance(n, x509.DNSName)), check.name
        )
        leaf = issue_server(signer, common_name=common_name, names=check.names, now=now, days=days)
    # Key first: a crash in between leaves a key/cert mismatch, re-issued next time.
    store.write(check.key_path, key_to_pem(leaf.key), secret=True)
    store.write(check.cert_path, cert_pem([leaf.cert]), secret=False)


def ensure_passwords(store: CertStore, users: Iterable[str]) -> tuple[str, ...]:
    """Generate the passwords that are missing; the names of the new ones."""
    created = []
    for user in users:
        path = store.password_file(user)
        if not store.exists(path):
            store.write(path, acl.new_password().encode("ascii"), secret=True)
            created.append(user)
    return tuple(created)


def ensure_certs(
    store: CertStore,
    spec: StackPKI,
    *,
    now: datetime,
    passphrase: PassphraseSource = env_passphrase,
    key_type: KeyType = KeyType.ECDSA_P256,
) -> IssueReport:
    """What ``deploy`` calls: a CA, passwords and valid leaves, creating what is missing.

    Leaves still signed by the previous CA are left to ``certs issue`` (step 2 of
    a CA rotation must follow the deploy of step 1).
    """
    if not has_ca(store):
        init_ca(store, now=now, key_type=key_type, passphrase=passphrase())
    return issue(store, spec, now=now, passphrase=passphrase, skip={Reason.PREVIOUS_CA})


def store_status(
    store: CertStore,
    spec: StackPKI,
    *,
    now: datetime,
    warn_within: timedelta = timedelta(days=WARN_DAYS),
) -> tuple[CertInfo, ...]:
    """Status of the CA(s) and every leaf the stack needs."""
    entries: list[tuple[CertKind, str, Path]] = [("ca", "ca", store.ca_current)]
    if store.exists(store.ca_previous):
        entries.append(("ca-previous", "ca-previous", store.ca_previous))
    entries += [("node", n.name, store.node_cert(n.name)) for n in spec.nodes]
    entries += [("client", u, store.client_cert(u)) for u in spec.client_users()]
    infos = []
    for kind, name, path in entries:
        try:
            cert: x509.Certificate | None = store.read_cert(path)
        except PKIError:
            cert = None
        infos.append(
            inspect(
                cert, kind=kind, name=name, path=store.show(path), now=now, warn_within=warn_within
            )
        )
    return tuple(infos)
