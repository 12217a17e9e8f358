"""What Heatsite checks of a firmware image before it keeps it.

An image is ``b"HSFW\\x01"``, a 4-byte big-endian manifest length, the manifest (JSON:
``component``, ``version``, ``sku``, ``sha256`` of the payload) and the payload: the format the
release pipeline builds and the BMCs of the fleet (and the lab's) accept. Heatsite refuses an
image whose manifest is unreadable or whose payload does not match its digest, so a corrupted
upload never reaches a BMC.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import struct

MAGIC = b"HSFW\x01"
COMPONENTS = ("BMC", "BIOS", "NIC", "CPLD")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_+]{0,63}$")
_SKU = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.\-_]{0,63}$")


class BadImage(ValueError):
    """The upload is not an image Heatsite can send; the message says why."""


@dataclasses.dataclass(frozen=True)
class ImageFacts:
    component: str
    version: str
    sku: str
    sha256: str  # of the whole image as stored
    size: int


def image_inspect(data: bytes) -> ImageFacts:
    """The image's facts, or `BadImage` saying what is wrong with it."""
    if not data:
        raise BadImage("The file is empty.")
    head = len(MAGIC) + 4
    if not data.startswith(MAGIC) or len(data) < head:
        raise BadImage("Not a firmware image (no HSFW header).")
    (size,) = struct.unpack(">I", data[len(MAGIC) : head])
    if head + size > len(data):
        raise BadImage("The image is truncated (its manifest runs past the end).")
    try:
        manifest = json.loads(data[head : head + size])
    except (ValueError, UnicodeDecodeError):
        raise BadImage("The image manifest is not readable JSON.") from None
    if not isinstance(manifest, dict):
        raise BadImage("The image manifest is not a JSON object.")
    component, version, sku = (manifest.get(k) for k in ("component", "version", "sku"))
    if component not in COMPONENTS:
        raise BadImage(f"Unknown component {component!r} (one of {', '.join(COMPONENTS)}).")
    if not isinstance(version, str) or not _VERSION.match(version):
        raise BadImage(f"The manifest's version {version!r} is not a version.")
    if not isinstance(sku, str) or not _SKU.match(sku):
        raise BadImage(f"The manifest's SKU {sku!r} is not a SKU.")
    payload = data[head + size :]
    if manifest.get("sha256") != hashlib.sha256(payload).hexdigest():
        raise BadImage("The payload does not match the manifest's SHA-256 (corrupted upload?).")
    return ImageFacts(
        component=component,
        version=version,
        sku=sku,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
