"""Gateway keys: secrets sealed to one gateway, results signed by it.

Each gateway holds two private keys (one file, `keys_generate`): X25519 to open what the central
side sealed for it (ephemeral X25519 + HKDF-SHA256 + AES-256-GCM, the gateway's name and the
call id bound as associated data, so a sealed box cannot be replayed into another call or to
another gateway) and Ed25519 to sign what it sends back. The central side keeps only the public
halves. Nothing here imports Django: the gateway runs this without a database.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"heatsite-gateway-seal-v1"
_RAW = {"encoding": serialization.Encoding.Raw, "format": serialization.PublicFormat.Raw}


class SealError(Exception):
    """A sealed box or a signature that does not open or verify (wrong key, altered, replayed)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as error:
        raise SealError("not base64") from error


@dataclass(frozen=True)
class GatewayKeys:
    """A gateway's private keys (on the gateway only)."""

    box: X25519PrivateKey
    signing: Ed25519PrivateKey

    @property
    def box_public(self) -> str:
        return _b64(self.box.public_key().public_bytes(**_RAW))

    @property
    def signing_public(self) -> str:
        return _b64(self.signing.public_key().public_bytes(**_RAW))

    def to_json(self) -> str:
        raw = {"encoding": serialization.Encoding.Raw, "format": serialization.PrivateFormat.Raw}
        none = serialization.NoEncryption()
        return json.dumps(
            {
                "x25519": _b64(self.box.private_bytes(encryption_algorithm=none, **raw)),
                "ed25519": _b64(self.signing.private_bytes(encryption_algorithm=none, **raw)),
            }
        )


def keys_generate() -> GatewayKeys:
    return GatewayKeys(X25519PrivateKey.generate(), Ed25519PrivateKey.generate())


def keys_write(keys: GatewayKeys, path: Path) -> None:
    """Writes the private key file readable by its owner only (created 0600, never widened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(keys.to_json())


def keys_load(path: Path) -> GatewayKeys:
    try:
        data = json.loads(Path(path).read_text())
        return GatewayKeys(
            X25519PrivateKey.from_private_bytes(_unb64(data["x25519"])),
            Ed25519PrivateKey.from_private_bytes(_unb64(data["ed25519"])),
        )
    except (OSError, ValueError, KeyError, TypeError, SealError) as error:
        raise SealError(f"cannot read the gateway key file {path}: {error}") from error


def _aead_key(shared: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(shared)


def seal(box_public: str, data: Any, *, aad: str) -> dict[str, str]:
    """``data`` (JSON-able) encrypted to the holder of ``box_public``'s private key."""
    try:
        recipient = X25519PublicKey.from_public_bytes(_unb64(box_public))
    except ValueError as error:
        raise SealError("not an X25519 public key") from error
    ephemeral = X25519PrivateKey.generate()
    epk = ephemeral.public_key().public_bytes(**_RAW)
    key = _aead_key(ephemeral.exchange(recipient), epk)
    nonce = os.urandom(12)
    body = AESGCM(key).encrypt(nonce, json.dumps(data).encode(), aad.encode())
    return {"v": "1", "epk": _b64(epk), "nonce": _b64(nonce), "ct": _b64(body)}


def unseal(keys: GatewayKeys, box: dict[str, str], *, aad: str) -> Any:
    try:
        epk = _unb64(box["epk"])
        key = _aead_key(keys.box.exchange(X25519PublicKey.from_public_bytes(epk)), epk)
        plain = AESGCM(key).decrypt(_unb64(box["nonce"]), _unb64(box["ct"]), aad.encode())
    except (InvalidTag, KeyError, TypeError, ValueError) as error:
        raise SealError("the sealed box does not open with this gateway's key") from error
    return json.loads(plain)


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign(keys: GatewayKeys, document: dict[str, Any]) -> str:
    return _b64(keys.signing.sign(canonical(document)))


def verify(signing_public: str, document: dict[str, Any], signature: str) -> None:
    """Raises `SealError` unless ``signature`` is the gateway's over ``document``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(_unb64(signing_public))
        key.verify(_unb64(signature), canonical(document))
    except (InvalidSignature, ValueError) as error:
        raise SealError("the signature does not verify with this gateway's key") from error
