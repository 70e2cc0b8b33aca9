"""Leaf certificates (servers and clients) and when they need renewal (pure).

Server certificates carry serverAuth *and* clientAuth: Redis nodes are clients
of each other on replication links and the cluster bus, and sentinels are
clients of the nodes they watch. Client certificates carry clientAuth only and
name the ACL user in their common name.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from swarmredis.errors import PKIError
from swarmredis.pki.ca import BACKDATE, ORGANIZATION, CertKey, check_names_permitted
from swarmredis.pki.keys import PrivateKey, generate_key, key_type_of, public_der, signature_hash

LEAF_DAYS = 90
RENEW_DAYS = 30
LOOPBACK = ipaddress.ip_address("127.0.0.1")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


class Reason(StrEnum):
    """Why a leaf certificate must be (re-)issued."""

    MISSING = "missing"
    EXPIRED = "expired"
    EXPIRING = "expiring"
    SAN_MISMATCH = "san-mismatch"
    KEY_MISMATCH = "key-mismatch"
    PREVIOUS_CA = "previous-ca"  # signed by the CA being rotated out
    UNTRUSTED = "untrusted"  # signed by no CA of the trust bundle


def host_name(text: str) -> x509.GeneralName:
    """An IP address or DNS name as a SAN entry; ``PKIError`` when it is neither."""
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not _HOSTNAME.match(text):
        raise PKIError(f"{text!r} is neither an IP address nor a DNS name")
    return x509.DNSName(text.lower())


def server_names(alias: str, host_addresses: Iterable[str] = ()) -> tuple[x509.GeneralName, ...]:
    """SANs of a node: its overlay alias, ``localhost``, ``127.0.0.1``, its host addresses."""
    names = [host_name(alias), x509.DNSName("localhost"), x509.IPAddress(LOOPBACK)]
    names += [host_name(a) for a in host_addresses]
    return tuple(dict.fromkeys(names))


def render_name(name: x509.GeneralName) -> str:
    """``DNS:acme-node-1`` / ``IP:127.0.0.1``, like openssl prints SANs."""
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    return f"{type(name).__name__}:{name.value}"


def names_of(cert: x509.Certificate) -> tuple[x509.GeneralName, ...]:
    """The subject alternative names of ``cert`` (empty when it has none)."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(ext.value)


def issue_server(
    ca: CertKey,
    *,
    common_name: str,
    names: Sequence[x509.GeneralName],
    now: datetime,
    days: int = LEAF_DAYS,
) -> CertKey:
    """A server (+client) certificate for a Redis node or sentinel, signed by ``ca``."""
    if not names:
        raise PKIError(f"server certificate {common_name!r} needs at least one name")
    check_names_permitted(ca.cert, names)
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    return _issue(ca, common_name, names, usages, now, days)


def issue_client(ca: CertKey, *, user: str, now: datetime, days: int = LEAF_DAYS) -> CertKey:
    """A client certificate whose common name is the ACL user ``user``."""
    return _issue(ca, user, (), [ExtendedKeyUsageOID.CLIENT_AUTH], now, days)


def _issue(
    ca: CertKey,
    common_name: str,
    names: Sequence[x509.GeneralName],
    usages: list[x509.ObjectIdentifier],
    now: datetime,
    days: int,
) -> CertKey:
    if days < 1:
        raise PKIError(f"certificate lifetime must be at least 1 day, got {days}")
    if ca.cert.not_valid_after_utc <= now:
        raise PKIError(
            "the CA has expired",
            hint="create a new one: `swarmredis certs ca start <stack file>`",
        )
    key = generate_key(key_type_of(ca.key))
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    # A leaf never outlives its CA: clients would reject it anyway.
    not_after = min(now + timedelta(days=days), ca.cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(key), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(_authority_key_id(ca.cert), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), False)
    return CertKey(builder.sign(ca.key, signature_hash(ca.key)), key)


def _leaf_key_usage(key: PrivateKey) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        # RSA key exchange (TLS 1.2 without ECDHE) encrypts with the server key.
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(ca: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    """Whether ``ca`` signed ``cert`` (issuer name and signature both match)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def renewal_reasons(
    cert: x509.Certificate | None,
    key: PrivateKey | None,
    *,
    current_ca: x509.Certificate,
    trusted: Sequence[x509.Certificate],
    names: Sequence[x509.GeneralName] | None,
    now: datetime,
    renew_within: timedelta = timedelta(days=RENEW_DAYS),
) -> tuple[Reason, ...]:
    """Why ``cert`` (with ``key``) must be re-issued; empty when it is fine.

    ``names`` are the SANs it should carry (``None`` for client certificates).
    """
    if cert is None or key is None:
        return (Reason.MISSING,)
    reasons: list[Reason] = []
    not_after = cert.not_valid_after_utc
    if not_after <= now:
        reasons.append(Reason.EXPIRED)
    elif not_after - now <= renew_within:
        reasons.append(Reason.EXPIRING)
    if names is not None and set(names_of(cert)) != set(names):
        reasons.append(Reason.SAN_MISMATCH)
    if public_der(cert.public_key()) != public_der(key):
        reasons.append(Reason.KEY_MISMATCH)
    if not issued_by(cert, current_ca):
        previous = any(issued_by(cert, ca) for ca in trusted)
        reasons.append(Reason.PREVIOUS_CA if previous else Reason.UNTRUSTED)
    return tuple(reasons)
