"""Authenticode hashes of PE images and of the UEFI drivers inside PCI option ROMs, checked
against pesign (an independent implementation) and against digests OVMF measured."""

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from apps.attestation.tcg.authenticode import (
    AuthenticodeError,
    authenticode_hash,
    authenticode_hashes,
    option_rom_images,
    pe_layout,
)

SYSTEMD_BOOT = Path("/usr/lib/systemd/boot/efi")
EFI_FILES = sorted(SYSTEMD_BOOT.glob("*.efi*")) if SYSTEMD_BOOT.is_dir() else []
IPXE = Path("/usr/lib/ipxe/qemu")
needs_pesign = pytest.mark.skipif(shutil.which("pesign") is None, reason="pesign not installed")


def pesign_hash(path: Path, algorithm: str) -> str:
    out = subprocess.run(
        ["pesign", "-i", str(path), "-h", "-d", algorithm],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return out.split("hash:")[1].strip()


def build_pe32plus(trailing: bytes = b"") -> bytes:
    """A minimal valid PE32+ (x64 EFI application) with two sections."""
    file_align = 0x200
    sections = [(b".text\0\0\0", bytes(range(256)) * 2, 0x60000020),
                (b".data\0\0\0", b"heatsite" * 64, 0xC0000040)]  # fmt: skip
    opt_size = 112 + 16 * 8
    headers = 0x40 + 4 + 20 + opt_size + 40 * len(sections)
    size_of_headers = -(-headers // file_align) * file_align
    dos = b"MZ" + bytes(0x3A) + struct.pack("<I", 0x40)
    coff = struct.pack("<HHIIIHH", 0x8664, len(sections), 0, 0, 0, opt_size, 0x22)
    image_size = 0x1000 * (len(sections) + 1)
    opt = struct.pack("<HBBIIIII", 0x20B, 2, 0, 0x200, 0x200, 0, 0x1000, 0x1000)
    opt += struct.pack("<QIIHHHHHHIIIIHHQQQQII", 0, 0x1000, file_align, 0, 0, 0, 0, 0, 0, 0,
                       image_size, size_of_headers, 0xABCD, 10, 0, 0x100000, 0x1000,
                       0x100000, 0x1000, 0, 16)  # fmt: skip
    opt += bytes(16 * 8)
    table, raw = [], b""
    for i, (name, body, flags) in enumerate(sections):
        ptr = size_of_headers + len(raw)
        table.append(name + struct.pack("<IIIIIIHHI", len(body), 0x1000 * (i + 1), len(body),
                                        ptr, 0, 0, 0, 0, flags))  # fmt: skip
        raw += body
    head = dos + b"PE\0\0" + coff + opt + b"".join(table)
    return head + bytes(size_of_headers - len(head)) + raw + trailing


def self_signed_pair(tmp_path: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Heatsite test signer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    key_path, cert_path = tmp_path / "db.key", tmp_path / "db.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))  # fmt: skip
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@pytest.mark.parametrize("path", EFI_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("algorithm", ["sha256", "sha1"])
def test_debian_efi_binaries_hash_like_pesign(path, algorithm):
    assert authenticode_hash(path.read_bytes(), algorithm).hex() == pesign_hash(path, algorithm)


def test_the_debian_efi_binaries_are_present():
    assert len(EFI_FILES) >= 2  # systemd-boot-efi: systemd-bootx64.efi, linuxx64.efi.stub


@pytest.mark.parametrize("trailing", [b"", b"\x5a" * 100])
def test_built_pe32plus_hashes_like_pesign(tmp_path, trailing):
    image = build_pe32plus(trailing)
    path = tmp_path / "app.efi"
    path.write_bytes(image)
    assert authenticode_hash(image).hex() == pesign_hash(path, "sha256")
    layout = pe_layout(image)
    assert [size for _, size in layout.sections] == [512, 512]


def test_hash_ignores_checksum_and_signature_but_not_code(tmp_path):
    # 8-byte aligned trailing data: sbsign pads the file to 8 bytes before the certificate
    # table, and that padding is (rightly) hashed, so only an aligned image keeps its hash.
    image = build_pe32plus(b"trailer8")
    unsigned = tmp_path / "app.efi"
    unsigned.write_bytes(image)
    key, cert = self_signed_pair(tmp_path)
    signed = tmp_path / "app.signed.efi"
    subprocess.run(
        ["sbsign", "--key", str(key), "--cert", str(cert), "--output", str(signed), str(unsigned)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    signed_bytes = signed.read_bytes()
    assert pe_layout(signed_bytes).cert_table[1] > 0
    assert authenticode_hashes(signed_bytes) == authenticode_hashes(image)
    assert authenticode_hash(signed_bytes).hex() == pesign_hash(signed, "sha256")
    patched = bytearray(image)
    struct.pack_into("<I", patched, pe_layout(image).checksum_offset, 0x12345678)
    assert authenticode_hash(bytes(patched)) == authenticode_hash(image)
    patched[pe_layout(image).sections[0][0] + 5] ^= 1
    assert authenticode_hash(bytes(patched)) != authenticode_hash(image)


# Digests OVMF (edk2-stable202211, Debian) measured into PCR2 for these Debian iPXE ROMs.
MEASURED = {
    "efi-virtio.rom": ("b6b9cf6d", "3997", "Offset(0x12800,0x3cdff)"),
    "efi-e1000e.rom": ("5fdd42d1", "cced", None),
}


@pytest.mark.parametrize("rom", sorted(MEASURED))
def test_option_rom_driver_digest_equals_what_ovmf_measured(rom):
    (image,) = option_rom_images((IPXE / rom).read_bytes())
    head, tail, offset = MEASURED[rom]
    digest = image.digests["sha256"].hex()
    assert digest.startswith(head) and digest.endswith(tail)
    assert image.machine == 0x8664
    if offset:
        assert image.device_path_offset == offset


def test_option_rom_image_hash_matches_pesign(tmp_path):
    (image,) = option_rom_images((IPXE / "efi-e1000.rom").read_bytes())
    path = tmp_path / "driver.efi"
    path.write_bytes(image.image)
    assert image.digests["sha256"].hex() == pesign_hash(path, "sha256")
    assert image.digests["sha1"].hex() == pesign_hash(path, "sha1")
    assert image.vendor_id == 0x8086


def test_legacy_only_rom_has_no_uefi_image():
    assert option_rom_images((IPXE / "pxe-virtio.rom").read_bytes()) == []


def test_compressed_rom_image_is_reported():
    rom = bytearray((IPXE / "efi-virtio.rom").read_bytes())
    (image,) = option_rom_images(bytes(rom))
    struct.pack_into("<H", rom, image.offset + 0xC, 1)
    with pytest.raises(AuthenticodeError, match="EFI-compressed"):
        option_rom_images(bytes(rom))


@pytest.mark.parametrize(
    "data",
    [b"", b"MZ", b"\x55\xaa" + bytes(40), b"garbage" * 100],
)
def test_malformed_inputs_raise_one_error_type(data):
    with pytest.raises(AuthenticodeError):
        authenticode_hash(data)
    with pytest.raises(AuthenticodeError):
        option_rom_images(data)


def test_every_truncation_of_a_pe_is_an_error_or_a_hash():
    image = build_pe32plus(b"tail")
    results = set()
    for cut in range(0, len(image) + 1, 7):
        try:
            results.add(authenticode_hash(image[:cut]))
        except AuthenticodeError as exc:
            results.add(type(exc))
    assert AuthenticodeError in results and len(results) > 1
