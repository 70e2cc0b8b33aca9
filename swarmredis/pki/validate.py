"""Check every file present in a stack's store before a command changes anything.

``check_store`` reads what is on disk and refuses, with a ``StoreFileError`` that names
the file, what is wrong and what to do, any file that is *present but bad*. What is
*missing* is fine: ``deploy`` creates it. Problems (``StoreFileError.problem``):

    unparsable      not a PEM certificate / private key
    not-yet-valid   notBefore lies in the future (a wrong clock, or not ours)
    expired         a CA past notAfter (deploy renews leaves, never a CA)
    not-a-ca        a CA file whose certificate is not a CA
    ca-key-mismatch ca.key does not belong to ca-current.crt
    foreign-ca      ca.crt trusts a certificate that is not the stack's CA
    untrusted       a leaf signed by neither the current nor the previous CA
    no-ca           leaves present, but ca-current.crt is gone
    key-mismatch    a leaf's key does not belong to its certificate
    bad-password    empty, several lines, blanks or non-printable bytes

An expired or expiring *leaf* is not refused: ``deploy`` renews it
(docs/operations.md, "Renewing"). The store keeps no ACL hash of its passwords, so a
password changed in place cannot be told from the one deployed (docs/security.md).
File I/O only, no network: call it in a worker thread.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from swarmredis.errors import PKIError, StoreFileError
from swarmredis.pki.keys import PrivateKey, is_encrypted_pem, load_key, public_der
from swarmredis.pki.leaf import issued_by
from swarmredis.pki.manage import env_passphrase, has_ca
from swarmredis.pki.store import CertStore

LEAF_DIRS = ("nodes", "clients")


def check_store(store: CertStore, *, now: datetime) -> None:
    """Refuse any present-but-bad file of ``store`` (see the module docstring)."""
    has_ca(store)  # refuses a CA certificate without its key, or a key without it
    current = _read_ca(store, store.ca_current, now=now, expiry=True)
    previous = _read_ca(store, store.ca_previous, now=now, expiry=False)
    cas = [ca for ca in (current, previous) if ca is not None]
    if current is not None:
        _check_ca_key(store, current)
    _check_bundle(store, cas)
    for folder in LEAF_DIRS:
        for cert_path in _files(store.root / folder, ".crt"):
            _check_leaf(store, cert_path, cas, now=now)
        for key_path in _files(store.root / folder, ".key"):
            _read_key(store, key_path)
    for path in _files(store.root / "users", ".password"):
        store.read_password_file(path)


def _files(folder: Path, suffix: str) -> list[Path]:
    # dot files are atomic_write's temporaries a killed run may leave behind
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == suffix and p.name[0] != ".")


def _fail(store: CertStore, path: Path, problem: str, what: str, hint: str) -> StoreFileError:
    shown = store.show(path)
    return StoreFileError(f"{shown}: {what}", hint=hint, path=shown, problem=problem)


def _parse(store: CertStore, path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(store.read(path))
    except ValueError:
        raise _fail(
            store,
            path,
            "unparsable",
            "not a PEM certificate (corrupted or truncated)",
            "restore it from a backup of the store",
        ) from None


def _read_key(
    store: CertStore, path: Path, data: bytes | None = None, passphrase: bytes | None = None
) -> PrivateKey:
    data = store.read_secret(path) if data is None else data  # refuses a mode others can read
    try:
        return load_key(data, source=store.show(path), passphrase=passphrase)
    except PKIError as error:
        raise StoreFileError(
            error.message,
            hint=error.hint,
            path=store.show(path),
            problem="unparsable",
        ) from None


def _read_ca(
    store: CertStore, path: Path, *, now: datetime, expiry: bool
) -> x509.Certificate | None:
    if not store.exists(path):
        return None
    cert = _parse(store, path)[0]
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise _fail(
            store, path, "not-a-ca", "holds a certificate that is not a CA", _restore_ca(store)
        )
    _check_window(store, path, cert, now=now)
    if expiry and cert.not_valid_after_utc <= now:
        raise _fail(
            store,
            path,
            "expired",
            f"the CA expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
            f"start a CA rotation: `swarmredis certs ca start {store.stack_file}`",
        )
    return cert


def _restore_ca(store: CertStore) -> str:
    return (
        "restore the CA files from a backup, or move the store away and run "
        f"`swarmredis certs init {store.stack_file}`: every node then gets new certificates"
    )


def _gone(store: CertStore, path: Path) -> StoreFileError:
    return _fail(
        store,
        path,
        "no-ca",
        f"present, but the stack's CA is gone ({store.show(store.ca_current)} missing)",
        _restore_ca(store),
    )


def _check_window(store: CertStore, path: Path, cert: x509.Certificate, *, now: datetime) -> None:
    if cert.not_valid_before_utc > now:
        raise _fail(
            store,
            path,
            "not-yet-valid",
            f"not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            "check this machine's clock; a certificate the store made is valid from its "
            "issue time minus 5 minutes",
        )


def _check_ca_key(store: CertStore, ca: x509.Certificate) -> None:
    data = store.read_secret(store.ca_key)
    secret = env_passphrase() if is_encrypted_pem(data) else None
    if is_encrypted_pem(data) and secret is None:
        return  # checked when something has to be signed and the passphrase is asked for
    key = _read_key(store, store.ca_key, data, secret)
    if public_der(key) != public_der(ca.public_key()) and not _staged_for(store, key):
        raise _fail(
            store,
            store.ca_key,
            "ca-key-mismatch",
            f"does not belong to {store.show(store.ca_current)}",
            "an interrupted rotation? restore both files from the same backup",
        )


def _staged_for(store: CertStore, key: PrivateKey) -> bool:
    """Whether ``key`` is that of a CA a killed rotation staged (``certs rotate --ca``
    makes it current when run again)."""
    if not store.exists(store.ca_next):
        return False
    return public_der(key) == public_der(store.read_cert(store.ca_next).public_key())


def _check_bundle(store: CertStore, cas: list[x509.Certificate]) -> None:
    if not store.exists(store.ca_bundle):
        return
    if not cas:
        raise _gone(store, store.ca_bundle)
    ours = {c.fingerprint(hashes.SHA256()) for c in cas}
    for cert in _parse(store, store.ca_bundle):
        if cert.fingerprint(hashes.SHA256()) not in ours:
            raise _fail(
                store,
                store.ca_bundle,
                "foreign-ca",
                f"trusts {cert.subject.rfc4514_string()!r}, which is neither "
                f"{store.show(store.ca_current)} nor {store.show(store.ca_previous)}",
                f"delete it; `swarmredis certs issue {store.stack_file}` rewrites it "
                "from the CA files",
            )


def _check_leaf(
    store: CertStore, path: Path, cas: list[x509.Certificate], *, now: datetime
) -> None:
    cert = _parse(store, path)[0]
    _check_window(store, path, cert, now=now)
    if not cas:
        raise _gone(store, path)
    if not any(issued_by(cert, ca) for ca in cas):
        raise _fail(
            store,
            path,
            "untrusted",
            f"signed by {cert.issuer.rfc4514_string()!r}, not by the store's CA",
            f"delete it and its key, then run `swarmredis certs issue {store.stack_file}`",
        )
    key_path = path.with_suffix(".key")
    if store.exists(key_path):
        key = _read_key(store, key_path)
        if public_der(key) != public_der(cert.public_key()):
            raise _fail(
                store,
                key_path,
                "key-mismatch",
                f"does not belong to {store.show(path)} (an interrupted issue, or replaced)",
                f"run `swarmredis certs issue {store.stack_file}` to re-issue both",
            )
