"""The certificate store of one stack: ``<base>/<stack>/`` on the operator's disk.

Layout (directories 0700, keys and passwords 0600, certificates 0644)::

    ca.crt               trust bundle: the current CA, plus the previous one during rotation
    ca-current.crt       the CA that signs new leaves
    ca.key               its private key (optionally encrypted with a passphrase)
    ca-previous.crt      the CA being rotated out (only during a CA rotation)
    nodes/<node>.crt|.key     server certificates of redis nodes and sentinels
    clients/<user>.crt|.key   client certificates (swarmredis-admin, monitor, stack users)
    users/<user>.password     ACL passwords, plain text, never printed

Every write goes to a temporary file in the same directory, is fsynced and then
renamed over the target, so a crash never leaves a half-written key behind.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from cryptography import x509

from swarmredis.errors import PKIError, StoreFileError
from swarmredis.pki.keys import PrivateKey, load_key

DIR_MODE = 0o700
SECRET_MODE = 0o600
PUBLIC_MODE = 0o644
CERTS_DIR_ENV = "SWARMREDIS_CERTS_DIR"
DEFAULT_BASE = Path("certs")
NEW_PASSWORD_RULE = "43 characters of A-Z a-z 0-9 - _ on one line"


def _password_flaw(text: bytes, at: int) -> str:
    """What is wrong with a password's bytes, by position only (never the password)."""
    byte = text[at]
    if byte == 0x0A:
        return f"more than one line (a line break at byte {at + 1})"
    if byte in b" \t\r\x0b\x0c":
        return f"whitespace at byte {at + 1}: a password is one token without blanks"
    return f"a non-printable or non-ASCII byte 0x{byte:02x} at byte {at + 1}"


def atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` (file mode ``mode``) in one atomic rename."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def resolve_base(certs_dir: str | Path | None = None) -> Path:
    """The store's base folder: ``certs_dir``, else ``$SWARMREDIS_CERTS_DIR``, else ``./certs``."""
    if certs_dir:
        return Path(certs_dir)
    from_env = os.environ.get(CERTS_DIR_ENV)
    return Path(from_env) if from_env else DEFAULT_BASE


class CertStore:
    """Files of one stack's PKI; every error names the file and what to do."""

    def __init__(self, base: Path, stack: str, *, stack_file: str = "STACKFILE") -> None:
        if not stack or "/" in stack or stack.startswith("."):
            raise PKIError(f"{stack!r} is not a usable stack name for the certificate store")
        self.base = Path(base)
        self.stack = stack
        self.stack_file = stack_file
        self.root = self.base / stack

    # -- paths ---------------------------------------------------------------
    @property
    def ca_bundle(self) -> Path:
        """``ca.crt``: the trust bundle every node and client uses."""
        return self.root / "ca.crt"

    @property
    def ca_current(self) -> Path:
        """``ca-current.crt``: the CA that signs new leaves."""
        return self.root / "ca-current.crt"

    @property
    def ca_key(self) -> Path:
        """``ca.key``: the current CA's private key."""
        return self.root / "ca.key"

    @property
    def ca_previous(self) -> Path:
        """``ca-previous.crt``: the CA being rotated out."""
        return self.root / "ca-previous.crt"

    @property
    def ca_cross(self) -> Path:
        """``ca-cross.crt``: during a CA rotation, the new CA certified by the previous one."""
        return self.root / "ca-cross.crt"

    @property
    def ca_next(self) -> Path:
        """``ca-next.crt``: a new CA staged by a rotation that has not made it current yet."""
        return self.root / "ca-next.crt"

    @property
    def ca_next_key(self) -> Path:
        """``ca-next.key``: the staged new CA's private key."""
        return self.root / "ca-next.key"

    @property
    def rotation(self) -> Path:
        """``rotation.json``: the phase a running ``certs rotate`` reached."""
        return self.root / "rotation.json"

    def node_cert(self, node: str) -> Path:
        """Server certificate of a redis node or sentinel."""
        return self.root / "nodes" / f"{node}.crt"

    def node_key(self, node: str) -> Path:
        """Private key of a redis node or sentinel."""
        return self.root / "nodes" / f"{node}.key"

    def client_cert(self, user: str) -> Path:
        """Client certificate of an ACL user."""
        return self.root / "clients" / f"{user}.crt"

    def client_key(self, user: str) -> Path:
        """Client private key of an ACL user."""
        return self.root / "clients" / f"{user}.key"

    def password_file(self, user: str) -> Path:
        """Plain-text password of an ACL user."""
        return self.root / "users" / f"{user}.password"

    def previous_password_file(self, user: str) -> Path:
        """During a password rotation: the password ``user`` had before (still valid)."""
        return self.root / "users" / f"{user}.previous.password"

    def show(self, path: Path) -> str:
        """``path`` as the user should see it in messages (relative when possible)."""
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        return str(path)

    # -- reading -------------------------------------------------------------
    def exists(self, path: Path) -> bool:
        """Whether ``path`` is present."""
        return path.is_file()

    def read(self, path: Path, *, hint: str | None = None) -> bytes:
        """Bytes of a store file; ``PKIError`` naming the file when it is missing."""
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise PKIError(f"{self.show(path)}: missing", hint=hint or self._hint(path)) from None
        except OSError as error:
            raise PKIError(f"{self.show(path)}: cannot read ({error.strerror})") from None

    def read_secret(self, path: Path) -> bytes:
        """Bytes of a key or password file, refusing files others can read."""
        data = self.read(path)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PKIError(
                f"{self.show(path)}: mode {mode:04o} lets other users read a secret",
                hint=f"run `chmod 600 {self.show(path)}`",
            )
        return data

    def read_cert(self, path: Path) -> x509.Certificate:
        """The first certificate of a PEM file."""
        return self.read_bundle(path)[0]

    def read_bundle(self, path: Path) -> list[x509.Certificate]:
        """Every certificate of a PEM file (at least one)."""
        data = self.read(path)
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise PKIError(
                f"{self.show(path)}: not a PEM certificate", hint=self._hint(path)
            ) from None
        return certs

    def read_key(self, path: Path, passphrase: bytes | None = None) -> PrivateKey:
        """A private key file of the store."""
        return load_key(self.read_secret(path), source=self.show(path), passphrase=passphrase)

    def read_password(self, user: str) -> str:
        """The stored password of ``user``: printable ASCII without blanks, alone on its
        line; ``StoreFileError`` naming the file (never the password) otherwise."""
        return self.read_password_file(self.password_file(user))

    def read_password_file(self, path: Path) -> str:
        """The password in ``path`` (see ``read_password``)."""
        data = self.read_secret(path)
        # one final newline is what an editor or `echo` adds; anything else was not ours
        text = data[:-1] if data.endswith(b"\n") else data
        bad = next((i for i, byte in enumerate(text) if not 0x21 <= byte <= 0x7E), None)
        if not text or bad is not None:
            what = "empty" if not text else _password_flaw(text, bad or 0)
            raise StoreFileError(
                f"{self.show(path)}: {what}",
                hint="restore it from a backup of the store: the deployed nodes know the "
                f"old password's hash (the store writes {NEW_PASSWORD_RULE})",
                path=self.show(path),
                problem="bad-password",
            )
        return text.decode("ascii")

    def _hint(self, path: Path) -> str:
        if path.parent == self.root:
            return f"run `swarmredis certs init {self.stack_file}`"
        return f"run `swarmredis certs issue {self.stack_file}`"

    # -- writing -------------------------------------------------------------
    def ensure_dirs(self) -> None:
        """Create the store's directories (0700), tightening existing ones."""
        for directory in (self.root, *(self.root / d for d in ("nodes", "clients", "users"))):
            try:
                directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                os.chmod(directory, DIR_MODE)
            except OSError as error:
                raise PKIError(
                    f"{self.show(directory)}: cannot create ({error.strerror})",
                    hint=f"choose another base with --certs-dir or {CERTS_DIR_ENV}",
                ) from None

    def write(self, path: Path, data: bytes, *, secret: bool) -> None:
        """Atomically write a store file: 0600 when ``secret``, else 0644."""
        self.ensure_dirs()
        try:
            atomic_write(path, data, SECRET_MODE if secret else PUBLIC_MODE)
        except OSError as error:
            raise PKIError(f"{self.show(path)}: cannot write ({error.strerror})") from None

    def remove(self, path: Path) -> None:
        """Delete a store file if present."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
