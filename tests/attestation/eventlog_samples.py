"""Event logs the suite makes itself, so the parser, replayer and fuzz tests never need the
public vectors: the lab's generated boots (apps/lab/tpm) and hand-built edge cases.

Every sample states its PCR values, computed without apps.attestation.tcg.eventlog: the lab
logs by the prediction model's own writer and replay (apps.attestation.predict), the
hand-built ones by the few lines of hashlib below. benchmarks/eventlog_fuzz.py seeds from
them when the vectors are absent.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import struct
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from apps.attestation import predict as p
from apps.attestation.tcg import uefi
from apps.lab.tpm import artefacts
from apps.lab.tpm.node import (
    LAB_PROFILE,
    LOADER_PATH,
    base_configuration,
    lab_release,
    nic_option_rom,
)

ALG_IDS = {"sha1": 0x0004, "sha256": 0x000B, "sha384": 0x000C, "sha512": 0x000D, "sm3_256": 0x0012}
SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64, "sm3_256": 32}
EV_POST_CODE = 0x1
EV_NO_ACTION = 0x3
EV_SEPARATOR = 0x4
EV_IPL = 0xD
EV_S_CRTM_VERSION = 0x8
EV_EFI_ACTION = 0x80000007
EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008
EV_EFI_HCRTM_EVENT = 0x80000010
OWNER = "77fa9abd-0359-4d32-bd60-28f4e78f784b"  # the owner GUID Microsoft uses; any would do
LAB_DB_SUBJECT = "CN=Heatsite lab db,O=Heatsite"


@dataclass(frozen=True)
class Sample:
    """A log and the PCR values it states ({bank: {pcr: hex}}).

    ``strict``: every payload decodes (the lab's placeholder Secure Boot keys do not).
    ``missing_ebs``: the log lacks the two ExitBootServices actions the stated PCR5 includes
    (firmware that extends them without logging them, as go-attestation's vector does).
    """

    name: str
    raw: bytes
    pcrs: dict[str, dict[int, str]]
    strict: bool = False
    missing_ebs: bool = False
    prediction: p.Prediction | None = None


def _digest(bank: str, data: bytes) -> bytes:
    return hashlib.new("sm3" if bank == "sm3_256" else bank, data).digest()


# --- signature lists with real (deterministic) certificates ------------------------------------


def certificate(name: str) -> bytes:
    """A self-signed Ed25519 certificate (DER), the same bytes on every run."""
    key = Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"heatsite-lab-" + name.encode()).digest()
    )
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"Heatsite lab {name}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Heatsite"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big"))
        .not_valid_before(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(dt.datetime(2044, 1, 1, tzinfo=dt.UTC))
        .sign(key, None)
    )
    return cert.public_bytes(serialization.Encoding.DER)


def signature_list(type_guid: str, entries: list[bytes]) -> bytes:
    """One EFI_SIGNATURE_LIST of same-size entries, each owned by ``OWNER``."""
    size = 16 + len(entries[0])
    body = b"".join(uefi.guid_bytes(OWNER) + entry for entry in entries)
    return uefi.guid_bytes(type_guid) + struct.pack("<III", 28 + len(body), 0, size) + body


def secure_boot_configuration() -> p.NodeConfiguration:
    """The lab node with real signature databases (X.509 PK/KEK/db, SHA-256 dbx) and the db
    certificate that verified the loader logged as an authority."""
    db_cert = certificate("db")
    return replace(
        base_configuration(),
        pk=signature_list(uefi.EFI_CERT_X509, [certificate("PK")]),
        kek=signature_list(uefi.EFI_CERT_X509, [certificate("KEK")]),
        db=signature_list(uefi.EFI_CERT_X509, [db_cert]),
        dbx=signature_list(
            uefi.EFI_CERT_SHA256, [hashlib.sha256(f"revoked {i}".encode()).digest() for i in (1, 2)]
        ),
        authorities=(uefi.guid_bytes(OWNER) + db_cert,),
    )


# --- the lab's boots ---------------------------------------------------------------------------


def _lab(name, config=None, version="1.4.0", profile=LAB_PROFILE, strict=False, **release):
    rel = lab_release(version)
    if release:
        rel = replace(rel, **release)
    pred = p.predict(profile, rel, config or base_configuration())
    pcrs = {bank: dict(values) for bank, values in pred.pcrs.items()}
    return Sample(name, pred.eventlog(profile.banks), pcrs, strict=strict, prediction=pred)


def _lab_missing_ebs() -> Sample:
    full = _lab("lab-missing-ebs")
    logged = [
        e
        for e in full.prediction.events
        if not (e.type == EV_EFI_ACTION and e.data.startswith(b"Exit Boot Services"))
    ]
    assert len(logged) == len(full.prediction.events) - 2
    return replace(full, raw=p.serialize_eventlog(logged), missing_ebs=True)


def _lab_four_banks() -> Sample:
    """The lab node on a platform with sha1, sha256, sha384 and sha512 banks."""
    banks = ("sha1", "sha256", "sha384", "sha512")
    profile = p.PlatformProfile(LAB_PROFILE.sku, "four banks", banks)
    template = p.edk2_template(
        banks,
        [artefacts.firmware_volume("1.4.0", i) for i in range(2)],
        "1.4.0\0".encode("utf-16-le"),
    )
    loader = p.BootBinary(LOADER_PATH, image=artefacts.lab_loader("heatsite-loader-2.1"))
    config = replace(secure_boot_configuration(), boot_binaries=(loader,))
    return _lab("lab-four-banks", config, profile=profile, strict=True, template=template)


def lab_samples() -> list[Sample]:
    nics = replace(
        base_configuration(),
        secure_boot=False,
        boot_order=(2, 1),
        option_roms=(nic_option_rom("nic-a", 2), nic_option_rom("nic-b", 5)),
    )
    return [
        _lab("lab-base"),
        _lab("lab-nics-1.5.0", nics, "1.5.0"),
        _lab("lab-secure-boot-keys", secure_boot_configuration(), strict=True),
        _lab("lab-locality-3", startup_locality=3),
        _lab_four_banks(),
        _lab_missing_ebs(),
    ]


# --- hand-built logs, written and replayed here ------------------------------------------------


def _initial(bank: str, pcr: int, locality: int) -> bytes:
    size = SIZES[bank]
    if pcr == 0:
        return bytes(size - 1) + bytes([locality])
    return b"\xff" * size if 17 <= pcr <= 22 else bytes(size)


def _replay(records, banks, locality=0) -> dict[str, dict[int, str]]:
    out = {}
    for bank in banks:
        values = [_initial(bank, i, locality) for i in range(24)]
        for pcr, etype, digests, _ in records:
            if etype != EV_NO_ACTION:
                values[pcr] = _digest(bank, values[pcr] + digests[bank])
        out[bank] = {i: v.hex() for i, v in enumerate(values)}
    return out


def _record(pcr, etype, data, banks, hashed=None):
    digests = {b: _digest(b, data if hashed is None else hashed) for b in banks}
    if etype == EV_NO_ACTION:
        digests = {b: bytes(SIZES[b]) for b in banks}
    return (pcr, etype, digests, data)


def _sha1_log(records) -> bytes:
    """The legacy SHA-1 format: TCG_PCR_EVENT records only."""
    return b"".join(
        struct.pack("<II20sI", pcr, etype, digests["sha1"], len(data)) + data
        for pcr, etype, digests, data in records
    )


def _agile_log(records, banks) -> bytes:
    """Crypto-agile: the Spec ID header, then TCG_PCR_EVENT2 records carrying the banks each
    record has (in Spec ID order)."""
    spec = b"Spec ID Event03\0" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, len(banks))
    spec += b"".join(struct.pack("<HH", ALG_IDS[b], SIZES[b]) for b in banks) + b"\0"
    out = [struct.pack("<II20sI", 0, EV_NO_ACTION, bytes(20), len(spec)), spec]
    for pcr, etype, digests, data in records:
        present = [b for b in banks if b in digests]
        out.append(struct.pack("<III", pcr, etype, len(present)))
        out += [struct.pack("<H", ALG_IDS[b]) + digests[b] for b in present]
        out.append(struct.pack("<I", len(data)) + data)
    return b"".join(out)


def _firmware_records(banks) -> list:
    """PCR0 and the other pre-OS records: version, blobs, POST code text, separators, IPL, and
    measurements into PCR16 (debug, starts at 0) and PCR18 (starts all-ones)."""
    return [
        _record(0, EV_S_CRTM_VERSION, "2.7\0".encode("utf-16-le"), banks),
        _record(0, EV_EFI_PLATFORM_FIRMWARE_BLOB, uefi.firmware_blob(0xFF800000, 0x800000), banks,
                hashed=b"firmware volume"),
        _record(0, EV_POST_CODE, b"ACPI DATA", banks),
        *[_record(pcr, EV_SEPARATOR, bytes(4), banks) for pcr in range(8)],
        _record(4, EV_EFI_ACTION, b"Calling EFI Application from Boot Option", banks),
        _record(8, EV_IPL, b"grub_cmd linux /vmlinuz root=/dev/sda2\0", banks),
        _record(16, EV_EFI_ACTION, b"debug", banks),
        _record(18, EV_EFI_ACTION, b"dynamic root of trust", banks),
    ]  # fmt: skip


def hand_samples() -> list[Sample]:
    sha1 = _firmware_records(["sha1"])
    banks = ["sha256", "sm3_256"]
    hcrtm = [
        _record(0, EV_NO_ACTION, b"SP800-155 Event\0" + b"vendor", banks),
        _record(0, EV_EFI_HCRTM_EVENT, b"HCRTM", banks),
        *_firmware_records(banks),
    ]
    # An EV_NO_ACTION record with a non-zero digest: still never extended.
    hcrtm[0] = (0, EV_NO_ACTION, {b: b"\x11" * SIZES[b] for b in banks}, hcrtm[0][3])
    # A measured record without its sha1 digest: only sha256 can be replayed.
    sparse = _firmware_records(["sha1", "sha256"])
    sparse[4] = (sparse[4][0], sparse[4][1], {"sha256": sparse[4][2]["sha256"]}, sparse[4][3])
    locality3 = [
        (0, EV_NO_ACTION, {"sha256": bytes(32)}, b"StartupLocality\0\x03"),
        *_firmware_records(["sha256"]),
    ]
    return [
        Sample("hand-sha1-format", _sha1_log(sha1), _replay(sha1, ["sha1"]), strict=True),
        Sample("hand-hcrtm-sm3", _agile_log(hcrtm, banks), _replay(hcrtm, banks, 4), strict=True),
        Sample(
            "hand-sha1-missing-on-one-event",
            _agile_log(sparse, ["sha1", "sha256"]),
            _replay(sparse, ["sha256"]),
            strict=True,
        ),
        Sample(
            "hand-startup-locality-3",
            _agile_log(locality3, ["sha256"]),
            _replay(locality3, ["sha256"], 3),
            strict=True,
        ),
    ]


@functools.cache
def samples() -> tuple[Sample, ...]:
    """Every sample, lab boots first (built once per process)."""
    return (*lab_samples(), *hand_samples())


def sample(name: str) -> Sample:
    return next(s for s in samples() if s.name == name)


def names() -> list[str]:
    return [s.name for s in samples()]
