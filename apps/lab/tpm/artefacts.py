"""Deterministic build artefacts for the lab and the firmware tests.

Minimal PE32+ EFI images (boot loaders, NIC drivers), PCI option ROM files wrapping them, GPT
boot disks and firmware volumes: all byte-for-byte reproducible, so their measurements are too.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import tempfile
import uuid
import zlib
from pathlib import Path

SUBSYSTEM_EFI_APPLICATION = 10
SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER = 11
ESP_TYPE = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
LINUX_DATA_TYPE = "0fc63daf-8483-4772-8e79-3d69d8477de4"


class ArtefactError(RuntimeError):
    """An artefact could not be built (bad size, missing tool)."""


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def build_pe(
    code: bytes, subsystem: int = SUBSYSTEM_EFI_APPLICATION, payload: bytes = b""
) -> bytes:
    """A PE32+ x86-64 image with one executable section (entry at its start).

    ``payload`` goes into a second, read-only section (makes distinct drivers/loaders differ).
    No relocations are needed: callers pass position-independent code.
    """
    file_align, sect_align = 0x200, 0x1000
    sections = [(b".text", code, 0x60000020)]
    if payload:
        sections.append((b".rdata", payload, 0x40000040))
    headers_size = _align(0x40 + 4 + 20 + 240 + 40 * len(sections), file_align)
    raw, rva, table, body = headers_size, sect_align, b"", b""
    for name, data, flags in sections:
        raw_size = _align(len(data), file_align)
        table += struct.pack("<8sIIIIIIHHI", name, len(data), rva, raw_size, raw, 0, 0, 0, 0, flags)
        body += data.ljust(raw_size, b"\0")
        raw += raw_size
        rva += _align(len(data), sect_align)
    dos = b"MZ".ljust(0x3C, b"\0") + struct.pack("<I", 0x40)
    coff = struct.pack("<HHIIIHH", 0x8664, len(sections), 0, 0, 0, 240, 0x0022)
    opt = struct.pack(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
        0x20B,
        0,
        0,
        _align(len(code), file_align),
        0,
        0,
        sect_align,
        sect_align,
        0,
        sect_align,
        file_align,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        rva,
        headers_size,
        0,
        subsystem,
        0,
        0x10000,
        0x10000,
        0,
        0,
        0,
        16,
    ) + b"\0" * (16 * 8)
    header = (dos + b"PE\0\0" + coff + opt + table).ljust(headers_size, b"\0")
    return header + body


# `xor eax, eax; ret`: returns EFI_SUCCESS. Lab images are never executed, only measured.
RETURN_SUCCESS = bytes.fromhex("31c0c3")


def build_option_rom(
    driver: bytes, vendor_id: int = 0x8086, device_id: int = 0x100E, legacy_image: bool = True
) -> bytes:
    """A PCI option ROM file: optional legacy (BIOS) image, then the UEFI driver image."""
    images = []
    if legacy_image:
        legacy = bytearray(512)
        legacy[0:2] = b"\x55\xaa"
        legacy[2] = 1
        struct.pack_into("<H", legacy, 0x18, 0x1C)
        legacy[0x1C : 0x1C + 0x1C] = _pcir(vendor_id, device_id, 1, code_type=0, last=False)
        images.append(bytes(legacy))
    pe_offset = 0x40
    size = _align(pe_offset + len(driver), 512)
    efi = bytearray(size)
    struct.pack_into(
        "<2sHIHHH8sHH",
        efi,
        0,
        b"\x55\xaa",
        size // 512,
        0x0EF1,
        SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER,
        0x8664,
        0,
        b"\0" * 8,
        pe_offset,
        0x1C,
    )
    efi[0x1C : 0x1C + 0x1C] = _pcir(vendor_id, device_id, size // 512, code_type=3, last=True)
    efi[pe_offset : pe_offset + len(driver)] = driver
    images.append(bytes(efi))
    return b"".join(images)


def _pcir(vendor: int, device: int, length_units: int, code_type: int, last: bool) -> bytes:
    return struct.pack(
        "<4sHHHHB3sHHBBHHH",
        b"PCIR",
        vendor,
        device,
        0,
        0x1C,
        3,
        b"\x00\x00\x02",
        length_units,
        0,
        code_type,
        0x80 if last else 0,
        0,
        0,
        0,
    )


def lab_driver(name: str) -> bytes:
    """A distinct, deterministic EFI boot-service driver image for a lab NIC model."""
    return build_pe(RETURN_SUCCESS, SUBSYSTEM_EFI_BOOT_SERVICE_DRIVER, name.encode() * 8)


def lab_loader(name: str) -> bytes:
    """A distinct, deterministic EFI application (a lab boot loader build)."""
    return build_pe(RETURN_SUCCESS, SUBSYSTEM_EFI_APPLICATION, name.encode() * 8)


def firmware_volume(version: str, index: int, size: int = 64 * 1024) -> bytes:
    """A deterministic stand-in for one firmware volume of a lab firmware build."""
    seed = hashlib.sha256(f"heatsite-lab-fw/{version}/{index}".encode()).digest()
    blocks = []
    for i in range(size // 32):
        blocks.append(hashlib.sha256(seed + i.to_bytes(4, "little")).digest())
    return b"".join(blocks)


def build_gpt(
    size: int,
    partitions: list[tuple[str, str, int, int, str]],
    disk_guid: str,
    sector: int = 512,
) -> bytearray:
    """A disk image with a protective MBR and primary + backup GPT.

    ``partitions``: (type GUID, unique GUID, first LBA, last LBA, name).
    """
    if size % sector or size < 68 * sector:
        raise ArtefactError("disk size must be a multiple of the sector size and >= 68 sectors")
    lbas = size // sector
    disk = bytearray(size)
    mbr_entry = struct.pack(
        "<B3sB3sII", 0, b"\x00\x02\x00", 0xEE, b"\xff\xff\xff", 1, min(lbas - 1, 0xFFFFFFFF)
    )
    disk[446:462] = mbr_entry
    disk[510:512] = b"\x55\xaa"
    entries = bytearray(128 * 128)
    for i, (ptype, unique, first, last, name) in enumerate(partitions):
        if not 34 <= first <= last <= lbas - 34:
            raise ArtefactError(f"partition {i} outside the usable LBAs")
        struct.pack_into(
            "<16s16sQQQ72s",
            entries,
            i * 128,
            uuid.UUID(ptype).bytes_le,
            uuid.UUID(unique).bytes_le,
            first,
            last,
            0,
            name.encode("utf-16-le")[:72],
        )
    entries_crc = zlib.crc32(entries)

    def header(my_lba: int, alt_lba: int, entries_lba: int) -> bytes:
        fields = [
            b"EFI PART",
            0x00010000,
            92,
            0,
            0,
            my_lba,
            alt_lba,
            34,
            lbas - 34,
            uuid.UUID(disk_guid).bytes_le,
            entries_lba,
            128,
            128,
            entries_crc,
        ]
        fmt = "<8sIIIIQQQQ16sQIII"
        crc = zlib.crc32(struct.pack(fmt, *fields))
        fields[3] = crc
        return struct.pack(fmt, *fields)

    disk[sector : sector + 92] = header(1, lbas - 1, 2)
    disk[2 * sector : 2 * sector + len(entries)] = entries
    backup_entries = lbas - 33
    disk[backup_entries * sector : backup_entries * sector + len(entries)] = entries
    disk[(lbas - 1) * sector : (lbas - 1) * sector + 92] = header(lbas - 1, 1, backup_entries)
    return disk


def build_boot_disk(
    efi_app: bytes,
    size: int = 48 * 1024 * 1024,
    disk_guid: str = "6c1e8d4a-2f8b-4a57-9d0e-5a1f2b3c4d5e",
    esp_guid: str = "0b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9",
) -> bytes:
    """A GPT disk with one FAT ESP holding ``\\EFI\\BOOT\\BOOTX64.EFI`` (fixed GUIDs).

    The GPT (what PCR5 measures) is byte-for-byte reproducible; FAT timestamps are not measured.
    Needs mkfs.vfat (dosfstools) and mtools.
    """
    for tool in ("mkfs.vfat", "mmd", "mcopy"):
        if shutil.which(tool) is None:
            raise ArtefactError(f"{tool} not found (Debian packages dosfstools, mtools)")
    sector = 512
    first, last = 2048, size // sector - 2048
    disk = build_gpt(size, [(ESP_TYPE, esp_guid, first, last, "ESP")], disk_guid)
    with tempfile.TemporaryDirectory() as tmp:
        part = Path(tmp) / "esp.img"
        app = Path(tmp) / "BOOTX64.EFI"
        app.write_bytes(efi_app)
        with open(part, "wb") as fh:
            fh.truncate((last - first + 1) * sector)
        env_run = {"check": True, "capture_output": True, "timeout": 60}
        subprocess.run(["mkfs.vfat", "-i", "48455453", "-n", "ESP", str(part)], **env_run)  # noqa: S603,S607
        subprocess.run(["mmd", "-i", str(part), "::/EFI", "::/EFI/BOOT"], **env_run)  # noqa: S603,S607
        subprocess.run(  # noqa: S603
            ["mcopy", "-i", str(part), str(app), "::/EFI/BOOT/BOOTX64.EFI"],  # noqa: S607
            **env_run,
        )
        disk[first * sector : (last + 1) * sector] = part.read_bytes()
    return bytes(disk)
