"""TLS handshakes with a Redis node: the certificate it serves, whether it accepts a client.

Which files a client uses (trust, certificate, key) is a value (``ClientFiles``), so
a test can keep the files of before a renewal or a CA rotation and try them later.
"""

from __future__ import annotations

import shutil
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature


@dataclass(frozen=True)
class ClientFiles:
    """The trust bundle, client certificate and key a TLS client presents."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def of_store(cls, stack_dir: Path, user: str) -> ClientFiles:
        """The files of ``user`` in a certificate store (``<certs-dir>/<stack>``)."""
        return cls(
            stack_dir / "ca.crt",
            stack_dir / "clients" / f"{user}.crt",
            stack_dir / "clients" / f"{user}.key",
        )

    def kept(self, folder: Path, *, ca: Path | None = None) -> ClientFiles:
        """Copies in ``folder`` (the store's files change on renewal); ``ca`` replaces the trust."""
        folder.mkdir(parents=True, exist_ok=True)
        copies = []
        for source, name in ((ca or self.ca, "ca.crt"), (self.cert, "client.crt")):
            copies.append(Path(shutil.copyfile(source, folder / name)))
        key = Path(shutil.copyfile(self.key, folder / "client.key"))
        return ClientFiles(copies[0], copies[1], key)

    def context(self) -> ssl.SSLContext:
        """A client context: verifies the chain against ``ca``, not the name (we dial addresses)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


def served_certificate(
    host: str, port: int, files: ClientFiles, timeout_s: float = 5
) -> x509.Certificate:
    """The leaf certificate the node at ``host:port`` presents in a verified handshake."""
    with (
        socket.create_connection((host, port), timeout=timeout_s) as raw,
        files.context().wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None, f"{host}:{port} presented no certificate"
    return x509.load_der_x509_certificate(der)


def ping_reply(host: str, port: int, files: ClientFiles, timeout_s: float = 5) -> bytes:
    """The first reply line to ``PING`` over TLS, without AUTH.

    With TLS 1.3 the server checks the client certificate after the client has
    finished its handshake, so a refused certificate shows as an ``ssl.SSLError`` on
    this read, not on connect: Redis 7.0 just closes the connection (an EOF "in
    violation of protocol"), other servers send alert ``unknown ca``.
    """
    with (
        socket.create_connection((host, port), timeout=timeout_s) as raw,
        files.context().wrap_socket(raw) as tls,
    ):
        tls.sendall(b"PING\r\n")
        return tls.recv(256).split(b"\r\n", 1)[0]


def signed_by(cert: x509.Certificate, ca_file: Path) -> bool:
    """Whether ``cert`` was issued and signed by the (first) CA in ``ca_file``."""
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True
