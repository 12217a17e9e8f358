"""The lab's firmware releases as signed bundles (`docs/firmware-bundles.md`), for the demo.

A lab bundle carries the release's BMC and BIOS images (`apps.lab.firmware.release_images`),
BMC first, the BIOS requiring at least the BMC it ships with, and measurements pointing at the
lab's firmware release of the same version (computed from artefacts). It is signed with the
lab's DEMO key (`apps/lab/demo_keys/`), trusted in development only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from apps.firmware.manifests import canonical_bytes
from apps.firmware.signatures import signature_create
from apps.lab.firmware import LAB_RELEASES, LAB_SKU, release_images

DEMO_KEY_ID = "heatsite-lab-demo"
DEMO_KEY_PATH = Path(__file__).resolve().parent / "demo_keys" / "DEMO-firmware-release-ed25519.pem"


def lab_bundle_manifest(version: str, images: dict[str, bytes]) -> dict:
    """The manifest of lab release ``version`` for ``images`` (file name -> bytes, BMC first)."""
    components = LAB_RELEASES[version]
    by_component = {name.split("-", 1)[0].upper(): name for name in images}
    return {
        "sku": LAB_SKU,
        "version": version,
        "name": f"Heatsite lab release {version}",
        "components": [
            {
                "component": component,
                "version": components[component],
                "file": file,
                "sha256": hashlib.sha256(images[file]).hexdigest(),
                "size": len(images[file]),
            }
            for component, file in by_component.items()
        ],
        "order": list(by_component),
        "requires": [
            {
                "component": "BIOS",
                "requires": [{"component": "BMC", "min_version": components["BMC"]}],
            }
        ],
        "measurements": {"source": "artefacts", "release": version},
    }


def lab_bundle(version: str) -> tuple[bytes, bytes, dict[str, bytes]]:
    """(manifest, signature, images) of lab release ``version``, signed with the demo key.
    ValueError for a version the lab does not ship."""
    images = release_images(version)
    manifest = lab_bundle_manifest(version, images)
    signature = signature_create(canonical_bytes(manifest), DEMO_KEY_PATH.read_bytes(), DEMO_KEY_ID)
    return json.dumps(manifest, indent=2).encode() + b"\n", signature, images
