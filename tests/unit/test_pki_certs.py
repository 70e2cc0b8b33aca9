"""Pure certificate builders: CA and leaf fields, key types, chains, renewal reasons."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from swarmredis.errors import PKIError
from swarmredis.pki.ca import NameLimits, build_ca, check_names_permitted, name_limits_of
from swarmredis.pki.keys import KeyType, key_to_pem, key_type_of, load_key
from swarmredis.pki.leaf import (
    Reason,
    issue_client,
    issue_server,
    issued_by,
    names_of,
    render_name,
    renewal_reasons,
    server_names,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def ext(
    cert: x509.Certificate, cls: type[x509.ExtensionType]
) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_class(cls)


def test_ca_has_the_extensions_of_a_leaf_only_ca() -> None:
    ca = build_ca("acme", now=NOW)
    cert = ca.cert
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca is True and bc.value.path_length == 1
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    assert not ku.value.digital_signature
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    aki = ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "swarmredis acme CA"
    assert cert.not_valid_after_utc == NOW + 3650 * DAY
    assert cert.not_valid_before_utc <= NOW
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey) and ca.key.curve.name == "secp256r1"
    assert issued_by(cert, cert)
    with pytest.raises(x509.ExtensionNotFound, match="NameConstraints"):
        ext(cert, x509.NameConstraints)


@pytest.mark.parametrize(
    ("key_type", "key_class"),
    [
        (KeyType.ECDSA_P256, ec.EllipticCurvePrivateKey),
        (KeyType.RSA_3072, rsa.RSAPrivateKey),
        (KeyType.ED25519, ed25519.Ed25519PrivateKey),
    ],
)
def test_key_types_carry_through_to_leaves(key_type: KeyType, key_class: type[object]) -> None:
    ca = build_ca("acme", now=NOW, key_type=key_type)
    leaf = issue_server(ca, common_name="acme-node-1", names=server_names("acme-node-1"), now=NOW)
    assert isinstance(ca.key, key_class) and isinstance(leaf.key, key_class)
    assert key_type_of(leaf.cert.public_key()) is key_type
    leaf.cert.verify_directly_issued_by(ca.cert)
    ku = ext(leaf.cert, x509.KeyUsage).value
    assert ku.digital_signature
    assert ku.key_encipherment is (key_type is KeyType.RSA_3072)


def test_server_leaf_fields() -> None:
    ca = build_ca("acme", now=NOW)
    names = server_names("acme-node-1", ["10.0.0.5", "Host-A.example"])
    leaf = issue_server(ca, common_name="acme-node-1", names=names, now=NOW)
    cert = leaf.cert
    assert [render_name(n) for n in names_of(cert)] == [
        "DNS:acme-node-1",
        "DNS:localhost",
        "IP:127.0.0.1",
        "IP:10.0.0.5",
        "DNS:host-a.example",
    ]
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    assert ext(cert, x509.KeyUsage).critical
    eku = ext(cert, x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    aki = ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ext(ca.cert, x509.SubjectKeyIdentifier).value.digest
    assert cert.not_valid_after_utc == NOW + 90 * DAY
    assert cert.issuer == ca.cert.subject
    assert cert.serial_number != ca.cert.serial_number


def test_client_leaf_names_the_user_and_is_client_only() -> None:
    ca = build_ca("acme", now=NOW)
    leaf = issue_client(ca, user="app", now=NOW, days=10)
    cn = leaf.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert cn == "app"
    assert list(ext(leaf.cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert names_of(leaf.cert) == ()
    assert leaf.cert.not_valid_after_utc == NOW + 10 * DAY


def test_chain_verifies_with_the_cryptography_policy_verifier() -> None:
    ca = build_ca("acme", now=NOW)
    leaf = issue_server(ca, common_name="acme-node-1", names=server_names("acme-node-1"), now=NOW)
    client = issue_client(ca, user="swarmredis-admin", now=NOW)
    store = Store([ca.cert])
    server_verifier = (
        PolicyBuilder().store(store).time(NOW).build_server_verifier(x509.DNSName("acme-node-1"))
    )
    chain = server_verifier.verify(leaf.cert, [])
    assert chain[-1] == ca.cert
    # The web-PKI client profile of `cryptography` demands a SAN that client
    # certificates do not need (Redis does not map them to users); check the
    # signature here and the full path with `openssl verify` in test_pki_peers.
    client.cert.verify_directly_issued_by(ca.cert)
    wrong_host = PolicyBuilder().store(store).time(NOW).build_server_verifier(x509.DNSName("evil"))
    with pytest.raises(VerificationError, match="no matching subjectAltName"):
        wrong_host.verify(leaf.cert, [])
    other = build_ca("other", now=NOW)
    assert not issued_by(leaf.cert, other.cert)
    with pytest.raises(VerificationError, match="candidates exhausted"):
        PolicyBuilder().store(Store([other.cert])).time(NOW).build_server_verifier(
            x509.DNSName("acme-node-1")
        ).verify(leaf.cert, [])


def test_leaf_never_outlives_its_ca_and_expired_ca_refuses() -> None:
    ca = build_ca("acme", now=NOW, days=30)
    leaf = issue_client(ca, user="app", now=NOW)
    assert leaf.cert.not_valid_after_utc == ca.cert.not_valid_after_utc
    with pytest.raises(PKIError, match="CA has expired"):
        issue_client(ca, user="app", now=NOW + 31 * DAY)


def test_name_constraints_limit_the_ca_to_the_stack() -> None:
    limits = NameLimits.for_stack(["acme-node-1", "acme-node-2"], ["10.0.0.0/24"])
    ca = build_ca("acme", now=NOW, limits=limits)
    nc = ext(ca.cert, x509.NameConstraints)
    assert nc.critical
    assert name_limits_of(ca.cert) == limits
    assert limits.dns == ("acme-node-1", "acme-node-2", "localhost")
    assert ipaddress.ip_network("127.0.0.1/32") in limits.ip_networks
    ok = server_names("acme-node-2", ["10.0.0.7"])
    issue_server(ca, common_name="acme-node-2", names=ok, now=NOW)
    with pytest.raises(PKIError, match="'acme-node-3'"):
        issue_server(ca, common_name="x", names=server_names("acme-node-3"), now=NOW)
    with pytest.raises(PKIError, match=r"'10\.0\.1\.7'"):
        check_names_permitted(ca.cert, server_names("acme-node-1", ["10.0.1.7"]))
    check_names_permitted(ca.cert, [x509.DNSName("sub.acme-node-1")])  # subtree semantics
    with pytest.raises(PKIError, match="not an IP network"):
        NameLimits.for_stack([], ["nope"])


def test_host_names_are_ip_or_dns() -> None:
    assert server_names("a", ["a", "127.0.0.1"]) == server_names("a")  # deduplicated
    with pytest.raises(PKIError, match="neither"):
        server_names("a", ["bad name"])


def test_encrypted_key_round_trip_and_errors() -> None:
    ca = build_ca("acme", now=NOW)
    pem = key_to_pem(ca.key, b"s3cret")
    assert b"ENCRYPTED" in pem
    loaded = load_key(pem, source="ca.key", passphrase=b"s3cret")
    assert loaded.public_key() == ca.key.public_key()
    with pytest.raises(PKIError, match=r"ca\.key: the key is encrypted"):
        load_key(pem, source="ca.key")
    with pytest.raises(PKIError, match="wrong passphrase"):
        load_key(pem, source="ca.key", passphrase=b"nope")
    with pytest.raises(PKIError, match="not a readable private key"):
        load_key(b"garbage", source="x.key")


class TestRenewalReasons:
    ca = build_ca("acme", now=NOW)
    names = server_names("acme-node-1")
    leaf = issue_server(ca, common_name="acme-node-1", names=names, now=NOW)

    def reasons(self, **kw: object) -> tuple[Reason, ...]:
        args: dict[str, object] = {
            "current_ca": self.ca.cert,
            "trusted": [self.ca.cert],
            "names": self.names,
            "now": NOW,
        }
        args.update(kw)
        cert = args.pop("cert", self.leaf.cert)
        key = args.pop("key", self.leaf.key)
        return renewal_reasons(cert, key, **args)  # type: ignore[arg-type]

    def test_fresh_leaf_needs_nothing(self) -> None:
        assert self.reasons() == ()

    @pytest.mark.parametrize(
        ("days", "expected"),
        [(59, ()), (60, (Reason.EXPIRING,)), (89, (Reason.EXPIRING,)), (90, (Reason.EXPIRED,))],
    )
    def test_expiry_window_follows_the_injected_clock(
        self, days: int, expected: tuple[Reason, ...]
    ) -> None:
        assert self.reasons(now=NOW + days * DAY) == expected

    def test_missing_mismatch_and_foreign_ca(self) -> None:
        assert self.reasons(cert=None) == (Reason.MISSING,)
        assert self.reasons(key=None) == (Reason.MISSING,)
        other = issue_server(self.ca, common_name="x", names=self.names, now=NOW)
        assert self.reasons(key=other.key) == (Reason.KEY_MISMATCH,)
        wider = server_names("acme-node-1", ["10.0.0.5"])
        assert self.reasons(names=wider) == (Reason.SAN_MISMATCH,)
        new_ca = build_ca("acme", now=NOW)
        assert self.reasons(current_ca=new_ca.cert, trusted=[new_ca.cert, self.ca.cert]) == (
            Reason.PREVIOUS_CA,
        )
        assert self.reasons(current_ca=new_ca.cert, trusted=[new_ca.cert]) == (Reason.UNTRUSTED,)

    def test_client_certs_ignore_names(self) -> None:
        client = issue_client(self.ca, user="app", now=NOW)
        assert self.reasons(cert=client.cert, key=client.key, names=None) == ()
