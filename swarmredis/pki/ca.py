"""The private certificate authority of one stack (pure builders).

A CA is self-signed, CA:TRUE with path length 0 (it signs leaves only) and may
carry NameConstraints that limit it to the stack's DNS aliases, ``localhost``
and the given IP ranges: a stolen CA key then cannot mint a certificate that
any client would accept for an unrelated host.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.x509.oid import NameOID

from swarmredis.errors import PKIError
from swarmredis.pki.keys import KeyType, PrivateKey, generate_key, signature_hash

CA_DAYS = 3650
BACKDATE = timedelta(minutes=5)  # tolerate small clock skew between hosts
ORGANIZATION = "swarmredis"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class CertKey:
    """A certificate with its private key."""

    cert: x509.Certificate
    key: PrivateKey


@dataclass(frozen=True)
class NameLimits:
    """What the CA may sign: DNS names (and their subdomains) and IP networks."""

    dns: tuple[str, ...]
    ip_networks: tuple[IPNetwork, ...]

    @classmethod
    def for_stack(cls, aliases: Iterable[str], ip_networks: Iterable[str] = ()) -> NameLimits:
        """Limits for a stack: its aliases, ``localhost``, loopback and ``ip_networks``."""
        networks: list[IPNetwork] = [ipaddress.ip_network("127.0.0.1/32")]
        for text in ip_networks:
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise PKIError(
                    f"{text!r} is not an IP network", hint="write e.g. 10.0.0.0/24 or 10.0.0.5"
                ) from None
        dns = sorted({*aliases, "localhost"})
        return cls(dns=tuple(dns), ip_networks=tuple(dict.fromkeys(networks)))


def ca_subject(stack: str) -> x509.Name:
    """The distinguished name of a stack's CA."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, f"swarmredis {stack} CA"),
        ]
    )


def build_ca(
    stack: str,
    *,
    now: datetime,
    key_type: KeyType = KeyType.ECDSA_P256,
    days: int = CA_DAYS,
    limits: NameLimits | None = None,
) -> CertKey:
    """A new self-signed CA for ``stack``, valid ``days`` from ``now``."""
    if days < 1:
        raise PKIError(f"CA lifetime must be at least 1 day, got {days}")
    key = generate_key(key_type)
    subject = ca_subject(stack)
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        # 1, not 0: room for the new CA certified by this one during a CA rotation
        # (pki/rotation.py). OpenSSL does not count that self-issued certificate against a
        # path length (RFC 5280), but Go's and rustls's verifiers do.
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
    )
    if limits is not None:
        builder = builder.add_extension(_name_constraints(limits), critical=True)
    return CertKey(builder.sign(key, signature_hash(key)), key)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _name_constraints(limits: NameLimits) -> x509.NameConstraints:
    permitted: list[x509.GeneralName] = [x509.DNSName(name) for name in limits.dns]
    permitted += [x509.IPAddress(net) for net in limits.ip_networks]
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)


def name_limits_of(ca: x509.Certificate) -> NameLimits | None:
    """The NameConstraints of a CA certificate, or ``None`` when it has none."""
    try:
        ext = ca.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None
    subtrees = ext.permitted_subtrees or []
    dns = tuple(n.value for n in subtrees if isinstance(n, x509.DNSName))
    nets = tuple(
        n.value
        for n in subtrees
        if isinstance(n, x509.IPAddress)
        and isinstance(n.value, ipaddress.IPv4Network | ipaddress.IPv6Network)
    )
    return NameLimits(dns=dns, ip_networks=nets)


def check_names_permitted(ca: x509.Certificate, names: Iterable[x509.GeneralName]) -> None:
    """Raise ``PKIError`` when the CA's NameConstraints do not allow one of ``names``."""
    limits = name_limits_of(ca)
    if limits is None:
        return
    for name in names:
        if isinstance(name, x509.DNSName) and not _dns_permitted(name.value, limits.dns):
            _refuse(name.value)
        if isinstance(name, x509.IPAddress) and not _ip_permitted(name.value, limits):
            _refuse(str(name.value))


def _ip_permitted(address: object, limits: NameLimits) -> bool:
    if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return False
    return any(address in net for net in limits.ip_networks)


def _dns_permitted(host: str, permitted: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == p.lower() or host.endswith("." + p.lower()) for p in permitted)


def _refuse(name: str) -> None:
    raise PKIError(
        f"the CA's name constraints do not allow {name!r}",
        hint="rotate to a CA that allows it: `swarmredis certs ca start <stack file> "
        "--name-constraints --permit-ip <network>`, or drop --name-constraints",
    )
