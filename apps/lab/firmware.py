"""The lab's firmware vocabulary, shared by its BMCs (both faces) and its TPM nodes.

One platform (SKU) and its firmware releases. A release's version IS the BIOS version a lab BMC
reports (Redfish ``BiosVersion`` and ``FirmwareInventory/BIOS``, IPMI's auxiliary firmware
revision) and the version of the firmware the node's lab TPM measures
(`apps.lab.tpm.node.lab_release`); each release also pins the BMC firmware shipped with it.
`release_images` builds the images of a release that the lab BMCs accept (demo bundles,
``manage.py lab_firmware_images``).

Plain data only: the BMC side imports this without pulling in the TPM or attestation code.
"""

from __future__ import annotations

from pathlib import Path

LAB_SKU = "HS-EDGE-1"
# release version -> component versions, oldest first; the first is what a new lab node runs
LAB_RELEASES: dict[str, dict[str, str]] = {
    "1.4.0": {"BIOS": "1.4.0", "BMC": "2.41"},
    "1.5.0": {"BIOS": "1.5.0", "BMC": "2.42"},
}
LAB_FIRMWARE_VERSIONS = tuple(LAB_RELEASES)
LAB_BIOS_VERSION = LAB_RELEASES[LAB_FIRMWARE_VERSIONS[0]]["BIOS"]
LAB_BMC_VERSION = LAB_RELEASES[LAB_FIRMWARE_VERSIONS[0]]["BMC"]


def release_images(version: str) -> dict[str, bytes]:
    """The lab images of release ``version``, by file name (``bios-1.5.0.hsfw``, ...), in the
    order to apply them (BMC first: a BIOS may need the newer BMC). ValueError for a version
    the lab does not ship."""
    from apps.lab.redfish.updates import build_image

    components = LAB_RELEASES.get(version)
    if components is None:
        known = ", ".join(LAB_FIRMWARE_VERSIONS)
        raise ValueError(f"no lab firmware release {version!r}; the lab ships {known}")
    return {
        f"{name.lower()}-{components[name]}.hsfw": build_image(name, components[name])
        for name in ("BMC", "BIOS")
    }


def files_write(folder: Path, files: dict[str, bytes]) -> None:
    """Writes ``files`` (name -> bytes) into ``folder`` (created if missing), each atomically
    (a reader never sees half an image); raises OSError."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(folder / name)
