"""Signed bundles for the tests: release keys of both kinds, a lab-release bundle that a test
may alter before signing, and the lab's platform profile and releases in the database."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from apps.firmware.manifests import canonical_bytes
from apps.firmware.signatures import signature_create
from apps.lab.bundles import lab_bundle_manifest
from apps.lab.firmware import release_images
from apps.lab.tpm.seed import seed_lab_reference


@dataclass
class Key:
    key_id: str
    private_pem: bytes
    public_pem: str


def make_key(key_id: str, kind: str = "ed25519") -> Key:
    private = (
        ed25519.Ed25519PrivateKey.generate()
        if kind == "ed25519"
        else (ec.generate_private_key(ec.SECP256R1()))
    )
    return Key(
        key_id,
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    )


@dataclass
class Bundle:
    """A bundle in the making: change ``manifest`` or ``images``, then ``signed(key)``."""

    manifest: dict
    images: dict[str, bytes] = field(default_factory=dict)

    def signature(self, key: Key) -> bytes:
        return signature_create(canonical_bytes(self.manifest), key.private_pem, key.key_id)

    def manifest_bytes(self) -> bytes:
        return json.dumps(self.manifest, indent=1).encode()

    def refresh_digests(self) -> None:
        """Make the manifest describe the current images (as a release pipeline would)."""
        for item in self.manifest["components"]:
            data = self.images[item["file"]]
            item["sha256"] = hashlib.sha256(data).hexdigest()
            item["size"] = len(data)


def lab_release_bundle(version: str = "1.5.0") -> Bundle:
    images = release_images(version)
    return Bundle(copy.deepcopy(lab_bundle_manifest(version, images)), dict(images))


@pytest.fixture
def ed_key():
    return make_key("release-2026-ed", "ed25519")


@pytest.fixture
def ec_key():
    return make_key("release-2026-ec", "ecdsa")


@pytest.fixture
def trusted(settings, ed_key, ec_key):
    """Both test keys trusted (and nothing else); returns the settings dict to rotate with."""
    settings.FIRMWARE_RELEASE_KEYS = {k.key_id: k.public_pem for k in (ed_key, ec_key)}
    return settings


@pytest.fixture
def lab_reference(db):
    """The lab SKU and its firmware releases 1.4.0 and 1.5.0."""
    return seed_lab_reference()
