"""Detached signatures of bundle manifests by release keys (Ed25519 or ECDSA P-256).

The signature file is JSON: ``{"key_id": ..., "alg": "ed25519" | "ecdsa-p256-sha256",
"signature": base64}``, over the manifest's canonical bytes (`manifests.canonical_bytes`).
Trusted keys are ``FIRMWARE_RELEASE_KEYS`` ({key id: public key PEM}), read at each check: a key
added there is accepted at once, a key removed is refused at once (rotation). The algorithm
must match the trusted key's type: the file's ``alg`` alone never chooses how to verify.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from apps.firmware.manifests import BundleRefused

ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256-sha256"
ALGORITHMS = (ED25519, ECDSA_P256)
SIGNATURE_MAX_BYTES = 4096


@dataclasses.dataclass(frozen=True)
class SignatureFacts:
    key_id: str
    alg: str
    key_sha256: str  # of the public key (DER SubjectPublicKeyInfo)
    signature: str  # base64


def _alg_of(key: object) -> str:
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return ED25519
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return ECDSA_P256
    raise ValueError("release keys are Ed25519 or ECDSA P-256")


def key_fingerprint(public_key: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def signature_create(canonical: bytes, private_pem: bytes, key_id: str = "") -> bytes:
    """The signature file for ``canonical`` (a developer's or CI's tool). ``key_id`` defaults
    to the first 16 hex digits of the public key's SHA-256. ValueError for an unusable key."""
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not an unencrypted PEM private key ({exc})") from None
    alg = _alg_of(key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.sign(canonical)
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        raw = key.sign(canonical, ec.ECDSA(hashes.SHA256()))
    key_id = key_id or key_fingerprint(key.public_key())[:16]
    body = {"key_id": key_id, "alg": alg, "signature": base64.b64encode(raw).decode()}
    return json.dumps(body, indent=2).encode() + b"\n"


def signature_verify(
    canonical: bytes, signature_file: bytes | None, trusted: Mapping[str, str]
) -> SignatureFacts:
    """The verified signature's facts, or `BundleRefused` (unsigned, unknown key, bad)."""
    if not signature_file:
        raise BundleRefused("unsigned", "The bundle is not signed (no signature file).")
    if len(signature_file) > SIGNATURE_MAX_BYTES:
        raise BundleRefused("bad_signature", "The signature file is too large.")
    try:
        body = json.loads(signature_file)
        key_id, alg, text = body["key_id"], body["alg"], body["signature"]
        if not all(isinstance(v, str) for v in (key_id, alg, text)):
            raise TypeError
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise BundleRefused(
            "bad_signature",
            "The signature file is not {key_id, alg, signature (base64)} JSON.",
        ) from None
    if alg not in ALGORITHMS:
        raise BundleRefused(
            "bad_signature", f"Signature algorithm {alg[:40]!r} is not {' or '.join(ALGORITHMS)}."
        )
    pem = trusted.get(key_id)
    if pem is None:
        raise BundleRefused(
            "unknown_key",
            f"The bundle is signed by key {key_id[:64]!r}, which is not a trusted release key.",
        )
    try:
        public_key = serialization.load_pem_public_key(pem.encode())
        key_alg = _alg_of(public_key)
    except (ValueError, TypeError):
        raise BundleRefused(
            "unknown_key", f"Trusted key {key_id!r} is not a usable Ed25519 or P-256 public key."
        ) from None
    if key_alg != alg:
        raise BundleRefused(
            "bad_signature", f"Key {key_id!r} is an {key_alg} key; the signature says {alg}."
        )
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(raw, canonical)
        else:
            assert isinstance(public_key, ec.EllipticCurvePublicKey)
            public_key.verify(raw, canonical, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BundleRefused(
            "bad_signature",
            f"The signature by key {key_id!r} does not match the manifest (altered or signed "
            "by another key).",
        ) from None
    return SignatureFacts(
        key_id=key_id, alg=alg, key_sha256=key_fingerprint(public_key), signature=text
    )
