"""Authenticode PE/COFF image hashes, as UEFI firmware measures boot applications (PCR4) and
option-ROM drivers (PCR2), and the UEFI images inside PCI expansion ROM files.

The hash follows Microsoft's "Windows Authenticode Portable Executable Signature Format": hash
the headers except the checksum and the security (certificate table) directory entry, then each
section's raw data in file order, then any trailing data except the certificate table. This is
what EDK2's ``DxeTpm2MeasureBootLib`` does, so it is the digest found in the event log.

Every malformed input raises :class:`AuthenticodeError`.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field


class AuthenticodeError(ValueError):
    """The file is not a well-formed PE image or PCI option ROM (reason in the message)."""


_HASHES = ("sha1", "sha256", "sha384", "sha512")


def _u16(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 2], "little")


def _u32(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 4], "little")


@dataclass
class PeLayout:
    """Where the hashed ranges of a PE image are."""

    machine: int
    checksum_offset: int
    security_dir_offset: int | None  # None when the image has fewer than 5 data directories
    size_of_headers: int
    sections: list[tuple[int, int]]  # (PointerToRawData, SizeOfRawData), in file order
    cert_table: tuple[int, int]  # (file offset, size), (0, 0) when unsigned


def pe_layout(image: bytes) -> PeLayout:
    """Parse the PE headers needed for the Authenticode hash (bounds-checked)."""
    size = len(image)
    if size < 0x40 or image[:2] != b"MZ":
        raise AuthenticodeError("not a PE image: no MZ header")
    pe = _u32(image, 0x3C)
    if pe > size - 24 or image[pe : pe + 4] != b"PE\0\0":
        raise AuthenticodeError("not a PE image: no PE signature")
    machine = _u16(image, pe + 4)
    nsections = _u16(image, pe + 6)
    opt_size = _u16(image, pe + 20)
    opt = pe + 24
    if opt + opt_size > size or opt_size < 2:
        raise AuthenticodeError("truncated PE optional header")
    magic = _u16(image, opt)
    if magic == 0x10B:
        ndir_off, dirs = opt + 92, opt + 96
    elif magic == 0x20B:
        ndir_off, dirs = opt + 108, opt + 112
    else:
        raise AuthenticodeError(f"unknown PE optional header magic 0x{magic:x}")
    if ndir_off + 4 > opt + opt_size:
        raise AuthenticodeError("PE optional header too short")
    ndirs = _u32(image, ndir_off)
    if dirs + 8 * min(ndirs, 16) > opt + opt_size:
        raise AuthenticodeError("PE data directories overrun the optional header")
    size_of_headers = _u32(image, opt + 60)
    checksum = opt + 64
    security = dirs + 8 * 4 if ndirs > 4 else None
    cert = (0, 0)
    if security is not None:
        cert = (_u32(image, security), _u32(image, security + 4))
        if cert[1] and (cert[0] > size or cert[1] > size - cert[0]):
            raise AuthenticodeError("certificate table lies outside the file")
    sec_table = opt + opt_size
    if sec_table + 40 * nsections > size:
        raise AuthenticodeError("PE section table overruns the file")
    min_headers = (security + 8) if security is not None else checksum + 4
    if size_of_headers > size or size_of_headers < min_headers:
        raise AuthenticodeError(f"SizeOfHeaders 0x{size_of_headers:x} is inconsistent")
    sections = []
    for i in range(nsections):
        raw_size, raw_ptr = struct.unpack_from("<II", image, sec_table + 40 * i + 16)
        if raw_size == 0:
            continue
        if raw_ptr > size or raw_size > size - raw_ptr:
            raise AuthenticodeError(f"section {i} lies outside the file")
        sections.append((raw_ptr, raw_size))
    sections.sort()
    return PeLayout(machine, checksum, security, size_of_headers, sections, cert)


def authenticode_hashes(
    image: bytes, algorithms: tuple[str, ...] = ("sha256", "sha1")
) -> dict[str, bytes]:
    """Authenticode digests of a PE image for several algorithms in one pass."""
    for alg in algorithms:
        if alg not in _HASHES:
            raise AuthenticodeError(f"unsupported hash algorithm {alg!r}")
    data = memoryview(bytes(image))
    layout = pe_layout(bytes(data))
    hashers = [hashlib.new(alg) for alg in algorithms]

    def feed(start: int, end: int) -> None:
        chunk = data[start:end]
        for h in hashers:
            h.update(chunk)

    headers_end = layout.size_of_headers
    feed(0, layout.checksum_offset)
    if layout.security_dir_offset is None:
        feed(layout.checksum_offset + 4, headers_end)
    else:
        feed(layout.checksum_offset + 4, layout.security_dir_offset)
        feed(layout.security_dir_offset + 8, headers_end)
    hashed = headers_end
    for ptr, size in layout.sections:
        feed(ptr, ptr + size)
        hashed += size
    # Trailing data (debug info, padding of an option-ROM image) is hashed, except the
    # certificate table, which by convention sits at the end of the file.
    cert_size = layout.cert_table[1]
    if len(data) > hashed:
        end = len(data) - cert_size
        if end < hashed:
            raise AuthenticodeError("certificate table overlaps the sections")
        feed(hashed, end)
    return {alg: h.digest() for alg, h in zip(algorithms, hashers, strict=True)}


def authenticode_hash(image: bytes, algorithm: str = "sha256") -> bytes:
    """Authenticode digest of a PE image (the EV_EFI_BOOT_SERVICES_* event digest)."""
    return authenticode_hashes(image, (algorithm,))[algorithm]


# ---------------------------------------------------------------------------------------------
# PCI expansion ROMs
# ---------------------------------------------------------------------------------------------

EFI_ROM_SIGNATURE = 0x0EF1
CODE_TYPE_EFI = 3


@dataclass
class RomImage:
    """One UEFI image inside a PCI option ROM, as firmware loads and measures it.

    ``offset``/``end`` are what the measured device path shows as ``Offset(offset,end)``
    (relative to the ROM start); ``image`` the bytes measured; ``digests`` their Authenticode
    hashes (sha256, sha1).
    """

    offset: int
    end: int
    vendor_id: int
    device_id: int
    machine: int
    subsystem: int
    image: bytes = field(repr=False)
    digests: dict[str, bytes] = field(default_factory=dict)

    @property
    def device_path_offset(self) -> str:
        return f"Offset(0x{self.offset:x},0x{self.end:x})"


def option_rom_images(
    rom: bytes, algorithms: tuple[str, ...] = ("sha256", "sha1")
) -> list[RomImage]:
    """Walk a PCI expansion ROM (0x55AA headers, PCIR structures) and return its UEFI images
    with their Authenticode hashes. Legacy (x86 BIOS) images are skipped; an EFI-compressed
    image raises AuthenticodeError (decompression is not supported)."""
    data = bytes(rom)
    images: list[RomImage] = []
    pos = 0
    for _ in range(256):  # a ROM holds a handful of images; bound the walk on hostile input
        if pos + 0x1A > len(data):
            raise AuthenticodeError(f"truncated option ROM header at 0x{pos:x}")
        if data[pos : pos + 2] != b"\x55\xaa":
            raise AuthenticodeError(f"no 0x55AA option ROM signature at 0x{pos:x}")
        pcir = pos + _u16(data, pos + 0x18)
        if pcir + 0x18 > len(data) or data[pcir : pcir + 4] != b"PCIR":
            raise AuthenticodeError(f"no PCIR structure for the ROM image at 0x{pos:x}")
        vendor, device = _u16(data, pcir + 4), _u16(data, pcir + 6)
        image_length = _u16(data, pcir + 0x10) * 512
        code_type, indicator = data[pcir + 0x14], data[pcir + 0x15]
        if image_length == 0 or pos + image_length > len(data):
            raise AuthenticodeError(f"ROM image at 0x{pos:x} has an invalid length {image_length}")
        if code_type == CODE_TYPE_EFI and _u16(data, pos + 4) == EFI_ROM_SIGNATURE:
            images.append(_efi_rom_image(data, pos, image_length, vendor, device, algorithms))
        if indicator & 0x80:
            return images
        pos += image_length
    raise AuthenticodeError("option ROM has too many images")


def _efi_rom_image(
    data: bytes, pos: int, image_length: int, vendor: int, device: int, algorithms: tuple[str, ...]
) -> RomImage:
    # EDK2 PciBus (ProcessOpRomImage): the image spans InitializationSize * 512 bytes from the
    # ROM header; the PE starts at EfiImageHeaderOffset.
    init_size = _u16(data, pos + 2) * 512
    subsystem, machine = _u16(data, pos + 8), _u16(data, pos + 0xA)
    compression = _u16(data, pos + 0xC)
    header_offset = _u16(data, pos + 0x16)
    if init_size == 0 or init_size > image_length or header_offset >= init_size:
        raise AuthenticodeError(f"EFI ROM image at 0x{pos:x} has inconsistent sizes")
    if compression != 0:
        raise AuthenticodeError(
            f"EFI ROM image at 0x{pos:x} is EFI-compressed (type {compression}): "
            "decompress it before hashing"
        )
    # The measured device path's Offset() node starts at the ROM image header, not the PE.
    end = pos + init_size
    image = data[pos + header_offset : end]
    return RomImage(
        offset=pos,
        end=end - 1,
        vendor_id=vendor,
        device_id=device,
        machine=machine,
        subsystem=subsystem,
        image=image,
        digests=authenticode_hashes(image, algorithms),
    )
