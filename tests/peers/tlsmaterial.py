"""Throwaway TLS material for local redis-server processes: one CA, one server and
one client certificate, plus an ACL file. Self-contained on purpose: the tests of the
Redis side must not depend on the real PKI module."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ADMIN_USER = "swarmredis-admin"
ADMIN_PASSWORD = "admin-secret-for-tests"
REPLICATION_USER = "replication"
REPLICATION_PASSWORD = "replication-secret-for-tests"
SENTINEL_USER = "sentinel"
SENTINEL_PASSWORD = "sentinel-secret-for-tests"


@dataclass(frozen=True)
class TLSMaterial:
    """Paths of everything a local TLS redis-server and its clients need."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    acl_file: Path
    rogue_client_cert: Path
    rogue_client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _builder(
    subject: str, issuer: x509.Name, public: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def _make_ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(name, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _issue(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, name: str
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    sans: list[x509.GeneralName] = [
        x509.DNSName(name),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = (
        _builder(name, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _sha(password: str) -> str:
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def acl_text() -> str:
    """ACL file as the real deployment writes it: default user off, hashed passwords."""
    return "\n".join(
        [
            "user default off",
            f"user {ADMIN_USER} on {_sha(ADMIN_PASSWORD)} ~* &* +@all",
            f"user {REPLICATION_USER} on {_sha(REPLICATION_PASSWORD)} +psync +replconf +ping",
            f"user {SENTINEL_USER} on {_sha(SENTINEL_PASSWORD)} allchannels +multi +slaveof"
            " +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname"
            " +client|kill +script|kill",
            "",
        ]
    )


def make_material(directory: Path) -> TLSMaterial:
    """Write a CA, a server cert, a client cert, a cert from a foreign CA, and users.acl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _make_ca("swarmredis test CA")
    server_key, server_cert = _issue(ca_key, ca_cert, "redis-node")
    client_key, client_cert = _issue(ca_key, ca_cert, ADMIN_USER)
    rogue_ca_key, rogue_ca_cert = _make_ca("rogue CA")
    rogue_key, rogue_cert = _issue(rogue_ca_key, rogue_ca_cert, "rogue")
    paths = TLSMaterial(
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        acl_file=directory / "users.acl",
        rogue_client_cert=directory / "rogue.crt",
        rogue_client_key=directory / "rogue.key",
    )
    _write_cert(paths.ca, ca_cert)
    _write_cert(paths.server_cert, server_cert)
    _write_key(paths.server_key, server_key)
    _write_cert(paths.client_cert, client_cert)
    _write_key(paths.client_key, client_key)
    _write_cert(paths.rogue_client_cert, rogue_cert)
    _write_key(paths.rogue_client_key, rogue_key)
    paths.acl_file.write_text(acl_text())
    return paths
