"""Private keys: generation, PEM encoding (optionally encrypted) and loading.

Pure: bytes in, bytes out. Every problem becomes a ``PKIError`` that names the
file the bytes came from, so the CLI can say which file to fix.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from swarmredis.errors import PKIError

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_ENCRYPTED_MARKER = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


class KeyType(StrEnum):
    """Key algorithms Redis 7 with OpenSSL 3 accepts for its TLS certificates."""

    ECDSA_P256 = "ecdsa-p256"
    RSA_3072 = "rsa-3072"
    # Ed25519 certificates work with TLS 1.3 and TLS 1.2 in OpenSSL >= 1.1.1,
    # which every supported Redis image links; tested against redis-server.
    ED25519 = "ed25519"


def generate_key(key_type: KeyType) -> PrivateKey:
    """A fresh private key of ``key_type``."""
    if key_type is KeyType.ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if key_type is KeyType.RSA_3072:
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    return ed25519.Ed25519PrivateKey.generate()


def key_type_of(key: PrivateKey | CertificatePublicKeyTypes) -> KeyType:
    """The ``KeyType`` of a private key or of a certificate's public key."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return KeyType.ECDSA_P256
        raise PKIError(f"unsupported elliptic curve {key.curve.name}")
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size == 3072:
            return KeyType.RSA_3072
        raise PKIError(f"unsupported RSA key size {key.key_size}")
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    raise PKIError(f"unsupported key algorithm {type(key).__name__}")


def signature_hash(key: PrivateKey) -> hashes.SHA256 | None:
    """The digest to sign with: SHA-256, or ``None`` for Ed25519 (it hashes itself)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    return hashes.SHA256()


def key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM; encrypted with the best available algorithm when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def is_encrypted_pem(data: bytes) -> bool:
    """Whether PEM bytes hold an encrypted PKCS#8 key."""
    return _ENCRYPTED_MARKER in data


def load_key(data: bytes, *, source: str, passphrase: bytes | None = None) -> PrivateKey:
    """Parse a PEM private key read from ``source`` (a file name used in errors)."""
    if is_encrypted_pem(data) and not passphrase:
        raise PKIError(
            f"{source}: the key is encrypted",
            hint="set SWARMREDIS_CA_PASSPHRASE"
            " (the `certs` commands also ask for it on a terminal)",
        )
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase if is_encrypted_pem(data) else None
        )
    except (ValueError, TypeError) as error:
        hint = "wrong passphrase?" if is_encrypted_pem(data) else "restore it or re-create it"
        raise PKIError(f"{source}: not a readable private key ({error})", hint=hint) from None
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise PKIError(f"{source}: unsupported key algorithm {type(key).__name__}")
    return key


def public_der(key: PrivateKey | CertificatePublicKeyTypes) -> bytes:
    """DER SubjectPublicKeyInfo of a key, to compare keys for equality."""
    public: CertificatePublicKeyTypes = (
        key.public_key()
        if isinstance(
            key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
        )
        else key
    )
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
