"""Offline PCR prediction: firmware release + node configuration -> expected event log and PCRs.

The model (see shared/notes/attestation.md §3-§4):

* A ``FirmwareRelease`` carries a *template*: the firmware's event sequence with its opaque parts
  (PCR0 blobs, S-CRTM version, POST codes, microcode... whose inputs are not in the log) kept as
  reference digests, and *slots* where the firmware measures things that come from the node's
  configuration. The template is either computed from build artefacts (``edk2_template``) or
  harvested from one golden boot log of that build on that SKU (``harvest_reference``).
* A ``NodeConfiguration`` fills the slots: Secure Boot variables (PCR7), BootOrder/Boot####
  (PCR1), option ROM drivers of plugged PCIe cards (PCR2), boot binaries (PCR4), the boot disk's
  GPT (PCR5), Secure Boot authorities (PCR7).
* ``predict`` yields the event sequence and the replayed PCRs; ``acceptable_pcr_sets`` expands
  approved ``Variants`` into the exact set of acceptable PCR vectors; ``explain`` diffs a real
  event log against the prediction and says in plain words what changed.

Everything here is pure: plain dataclasses in and out, no Django models, no TPM. Every malformed
input raises ``PredictionError`` (a ``ValueError``) with a one-line reason.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import struct
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from apps.attestation.tcg import authenticode as tcg_authenticode
from apps.attestation.tcg import eventlog as tcg_eventlog
from apps.attestation.tcg.errors import EventLogError

__all__ = [
    "BANKS",
    "BootBinary",
    "BootEntry",
    "Divergence",
    "Event",
    "FirmwareRelease",
    "NodeConfiguration",
    "OptionRom",
    "PlatformProfile",
    "Prediction",
    "PredictionError",
    "Variants",
    "acceptable_pcr_sets",
    "authenticode_digest",
    "boot_entries_from_eventlog",
    "edk2_template",
    "explain",
    "gpt_event_data",
    "harvest_reference",
    "load_option",
    "option_rom_images",
    "parse_eventlog",
    "predict",
    "replay",
    "serialize_eventlog",
]


class PredictionError(ValueError):
    """Bad input to the prediction model (malformed log, PE, ROM, disk or inconsistent data)."""


# --- TCG constants -------------------------------------------------------------------------

EV_POST_CODE = 0x1
EV_NO_ACTION = 0x3
EV_SEPARATOR = 0x4
EV_ACTION = 0x5
EV_S_CRTM_CONTENTS = 0x7
EV_S_CRTM_VERSION = 0x8
EV_CPU_MICROCODE = 0x9
EV_PLATFORM_CONFIG_FLAGS = 0xA
EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
EV_EFI_VARIABLE_BOOT = 0x80000002
EV_EFI_BOOT_SERVICES_APPLICATION = 0x80000003
EV_EFI_BOOT_SERVICES_DRIVER = 0x80000004
EV_EFI_RUNTIME_SERVICES_DRIVER = 0x80000005
EV_EFI_GPT_EVENT = 0x80000006
EV_EFI_ACTION = 0x80000007
EV_EFI_PLATFORM_FIRMWARE_BLOB = 0x80000008
EV_EFI_HANDOFF_TABLES = 0x80000009
EV_EFI_PLATFORM_FIRMWARE_BLOB2 = 0x8000000A
EV_EFI_VARIABLE_BOOT2 = 0x8000000C
EV_EFI_VARIABLE_AUTHORITY = 0x800000E0

EVENT_NAMES = {
    EV_POST_CODE: "EV_POST_CODE",
    EV_NO_ACTION: "EV_NO_ACTION",
    EV_SEPARATOR: "EV_SEPARATOR",
    EV_ACTION: "EV_ACTION",
    EV_S_CRTM_CONTENTS: "EV_S_CRTM_CONTENTS",
    EV_S_CRTM_VERSION: "EV_S_CRTM_VERSION",
    EV_CPU_MICROCODE: "EV_CPU_MICROCODE",
    EV_PLATFORM_CONFIG_FLAGS: "EV_PLATFORM_CONFIG_FLAGS",
    EV_EFI_VARIABLE_DRIVER_CONFIG: "EV_EFI_VARIABLE_DRIVER_CONFIG",
    EV_EFI_VARIABLE_BOOT: "EV_EFI_VARIABLE_BOOT",
    EV_EFI_BOOT_SERVICES_APPLICATION: "EV_EFI_BOOT_SERVICES_APPLICATION",
    EV_EFI_BOOT_SERVICES_DRIVER: "EV_EFI_BOOT_SERVICES_DRIVER",
    EV_EFI_RUNTIME_SERVICES_DRIVER: "EV_EFI_RUNTIME_SERVICES_DRIVER",
    EV_EFI_GPT_EVENT: "EV_EFI_GPT_EVENT",
    EV_EFI_ACTION: "EV_EFI_ACTION",
    EV_EFI_PLATFORM_FIRMWARE_BLOB: "EV_EFI_PLATFORM_FIRMWARE_BLOB",
    EV_EFI_HANDOFF_TABLES: "EV_EFI_HANDOFF_TABLES",
    EV_EFI_PLATFORM_FIRMWARE_BLOB2: "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
    EV_EFI_VARIABLE_BOOT2: "EV_EFI_VARIABLE_BOOT2",
    EV_EFI_VARIABLE_AUTHORITY: "EV_EFI_VARIABLE_AUTHORITY",
}

ALG_IDS = {"sha1": 0x0004, "sha256": 0x000B, "sha384": 0x000C, "sha512": 0x000D}
DIGEST_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
BANKS = ("sha1", "sha256")

EFI_GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFI_IMAGE_SECURITY_DATABASE = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"

CALLING_EFI_APPLICATION = b"Calling EFI Application from Boot Option"
RETURNING_FROM_EFI_APPLICATION = b"Returning from EFI Application from Boot Option"
EXIT_BOOT_SERVICES = b"Exit Boot Services Invocation"
EXIT_BOOT_SERVICES_OK = b"Exit Boot Services Returned with Success"

# Slots: the places in a firmware template filled from the node's configuration.
SLOT_SECURE_BOOT = "secure_boot_variables"
SLOT_BOOT_VARIABLES = "boot_variables"
SLOT_OPTION_ROMS = "option_roms"
SLOT_BOOT_APPS = "boot_applications"
SLOT_GPT = "gpt"
SLOT_AUTHORITIES = "authorities"
SLOTS = (
    SLOT_SECURE_BOOT,
    SLOT_BOOT_VARIABLES,
    SLOT_OPTION_ROMS,
    SLOT_BOOT_APPS,
    SLOT_GPT,
    SLOT_AUTHORITIES,
)
# Where a slot goes in a harvested template when the golden boot did not measure anything for it
# (e.g. no option ROM was plugged): (pcr, before or after that PCR's separator).
_SLOT_DEFAULT_PLACE = {
    SLOT_SECURE_BOOT: (7, "before"),
    SLOT_BOOT_VARIABLES: (1, "before"),
    SLOT_OPTION_ROMS: (2, "before"),
    SLOT_AUTHORITIES: (7, "after"),
    SLOT_GPT: (5, "after"),
    SLOT_BOOT_APPS: (4, "after"),
}


def _hash(alg: str, data: bytes) -> bytes:
    return hashlib.new(alg, data).digest()


# --- events and logs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One measurement: PCR, event type, one digest per bank, event data.

    ``slot`` is set on events derived from the node configuration (empty for firmware reference
    events and constants); ``label`` is a short human name (variable name, device path, file).
    """

    pcr: int
    type: int
    digests: Mapping[str, bytes]
    data: bytes = b""
    slot: str = ""
    label: str = ""

    @property
    def type_name(self) -> str:
        return EVENT_NAMES.get(self.type, f"0x{self.type:08x}")

    def describe(self) -> str:
        """One line for humans: type, label, short sha256 digest."""
        digest = self.digests.get("sha256") or next(iter(self.digests.values()), b"")
        label = f" {self.label}" if self.label else ""
        return f"{self.type_name}{label} [{digest.hex()[:12]}]"


def _constant_event(pcr: int, type_: int, data: bytes, banks: Iterable[str]) -> Event:
    return Event(pcr, type_, {b: _hash(b, data) for b in banks}, data, label=_label(type_, data))


def separator(pcr: int, banks: Iterable[str] = BANKS) -> Event:
    """The EV_SEPARATOR every UEFI firmware puts between pre-boot and boot (value 0)."""
    return _constant_event(pcr, EV_SEPARATOR, b"\0\0\0\0", banks)


def efi_action(pcr: int, text: bytes, banks: Iterable[str] = BANKS) -> Event:
    """An EV_EFI_ACTION event: the digest is the hash of the ASCII string."""
    return _constant_event(pcr, EV_EFI_ACTION, text, banks)


def _label(type_: int, data: bytes) -> str:
    """Best-effort human label of an event's data; never raises (data is not trusted)."""
    try:
        if type_ in (EV_EFI_ACTION, EV_ACTION):
            return data.decode("ascii")
        if type_ in (
            EV_EFI_VARIABLE_DRIVER_CONFIG,
            EV_EFI_VARIABLE_BOOT,
            EV_EFI_VARIABLE_BOOT2,
            EV_EFI_VARIABLE_AUTHORITY,
        ):
            return _parse_variable_data(data)[1]
        if type_ in (
            EV_EFI_BOOT_SERVICES_APPLICATION,
            EV_EFI_BOOT_SERVICES_DRIVER,
            EV_EFI_RUNTIME_SERVICES_DRIVER,
        ):
            if len(data) < 32:
                return ""
            (dp_len,) = struct.unpack_from("<Q", data, 24)
            return device_path_text(data[32 : 32 + dp_len])
    except (PredictionError, UnicodeDecodeError, struct.error):
        return ""
    return ""


def serialize_eventlog(events: Sequence[Event], banks: Sequence[str] = BANKS) -> bytes:
    """Write a crypto-agile TCG event log (Spec ID header, then TCG_PCR_EVENT2 records)."""
    for bank in banks:
        if bank not in ALG_IDS:
            raise PredictionError(f"unknown bank {bank!r}")
    spec = b"Spec ID Event03\0" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, len(banks))
    spec += b"".join(struct.pack("<HH", ALG_IDS[b], DIGEST_SIZES[b]) for b in banks) + b"\0"
    out = [struct.pack("<II20sI", 0, EV_NO_ACTION, b"\0" * 20, len(spec)), spec]
    for ev in events:
        try:
            digests = b"".join(struct.pack("<H", ALG_IDS[b]) + ev.digests[b] for b in banks)
        except KeyError as exc:
            raise PredictionError(f"event {ev.describe()} has no {exc.args[0]} digest") from None
        out.append(struct.pack("<III", ev.pcr, ev.type, len(banks)) + digests)
        out.append(struct.pack("<I", len(ev.data)) + ev.data)
    return b"".join(out)


def parse_eventlog(log: bytes) -> tuple[list[Event], int]:
    """Parse a TCG event log (crypto-agile or SHA-1) -> (measured events, startup locality).

    Parsing is ``apps.attestation.tcg.eventlog`` (strict bounds checks); EV_NO_ACTION records are
    dropped (never extended) and a StartupLocality record sets the locality.
    """
    try:
        parsed = tcg_eventlog.parse_event_log(log)
        locality = parsed.startup_locality
    except EventLogError as exc:
        raise PredictionError(str(exc)) from None
    events = [
        Event(e.pcr, e.type, dict(e.digests), e.data, label=_label(e.type, e.data))
        for e in parsed.events
        if e.measured
    ]
    return events, locality


def replay(
    events: Iterable[Event],
    banks: Iterable[str] = BANKS,
    pcrs: Iterable[int] = range(8),
    locality: int = 0,
) -> dict[str, dict[int, str]]:
    """Replay measured events into PCR values: {bank: {pcr: hex}}."""
    wanted = list(pcrs)
    out: dict[str, dict[int, str]] = {}
    for bank in banks:
        n = DIGEST_SIZES.get(bank)
        if n is None:
            raise PredictionError(f"unknown bank {bank!r}")
        values = {
            p: (b"\0" * (n - 1) + bytes([locality]))
            if p == 0
            else (b"\xff" * n if 17 <= p <= 22 else b"\0" * n)
            for p in wanted
        }
        for ev in events:
            if ev.pcr in values:
                digest = ev.digests.get(bank)
                if digest is None:
                    raise PredictionError(f"event {ev.describe()} has no {bank} digest")
                values[ev.pcr] = _hash(bank, values[ev.pcr] + digest)
        out[bank] = {p: v.hex() for p, v in values.items()}
    return out


# --- UEFI structures -------------------------------------------------------------------------


def _guid_bytes(guid: str) -> bytes:
    try:
        return uuid.UUID(guid).bytes_le
    except ValueError:
        raise PredictionError(f"bad GUID {guid!r}") from None


def variable_data(name: str, guid: str, value: bytes) -> bytes:
    """UEFI_VARIABLE_DATA: GUID, name length, data length, UTF-16 name (no NUL), data."""
    encoded = name.encode("utf-16-le")
    return _guid_bytes(guid) + struct.pack("<QQ", len(name), len(value)) + encoded + value


def _parse_variable_data(data: bytes) -> tuple[str, str, bytes]:
    """UEFI_VARIABLE_DATA -> (guid, name, value)."""
    if len(data) < 32:
        raise PredictionError("UEFI_VARIABLE_DATA too short")
    guid = str(uuid.UUID(bytes_le=data[:16]))
    name_len, value_len = struct.unpack_from("<QQ", data, 16)
    end = 32 + 2 * name_len
    if end + value_len > len(data):
        raise PredictionError("UEFI_VARIABLE_DATA lengths do not fit")
    try:
        name = data[32:end].decode("utf-16-le")
    except UnicodeDecodeError:
        raise PredictionError("UEFI variable name is not UTF-16") from None
    return guid, name, data[end : end + value_len]


_DP_NODE = re.compile(r"(\w+)\(([^)]*)\)")


def device_path(text: str) -> bytes:
    """Encode a device path from its text form (PciRoot, Pci, Offset, File nodes) + end node."""
    out = b""
    for node in text.split("/"):
        m = _DP_NODE.fullmatch(node.strip())
        if not m:
            if node.startswith("\\"):
                path = (node + "\0").encode("utf-16-le")
                out += struct.pack("<BBH", 4, 4, 4 + len(path)) + path
                continue
            raise PredictionError(f"unsupported device path node {node!r}")
        kind, args = m.group(1), [a.strip() for a in m.group(2).split(",") if a.strip()]
        try:
            nums = [int(a, 0) for a in args]
        except ValueError:
            raise PredictionError(f"bad device path node {node!r}") from None
        if kind == "PciRoot" and len(nums) == 1:
            out += struct.pack("<BBHII", 2, 1, 12, 0x0A0341D0, nums[0])
        elif kind == "Pci" and len(nums) == 2:
            out += struct.pack("<BBHBB", 1, 1, 6, nums[1], nums[0])
        elif kind == "Offset" and len(nums) == 2:
            out += struct.pack("<BBHIQQ", 4, 8, 24, 0, nums[0], nums[1])
        else:
            raise PredictionError(f"unsupported device path node {node!r}")
    return out + b"\x7f\xff\x04\x00"


def device_path_text(raw: bytes) -> str:
    """Text form of a binary device path (unknown nodes are shown as Path(type,subtype))."""
    parts = []
    off = 0
    while off + 4 <= len(raw):
        typ, sub, length = struct.unpack_from("<BBH", raw, off)
        if length < 4 or off + length > len(raw):
            raise PredictionError(f"bad device path node length at offset {off}")
        body = raw[off + 4 : off + length]
        off += length
        if typ == 0x7F and sub == 0xFF:
            break
        if typ == 2 and sub == 1 and len(body) == 8:
            hid, uid = struct.unpack("<II", body)
            parts.append(f"PciRoot(0x{uid:x})" if hid == 0x0A0341D0 else f"Acpi(0x{hid:x},{uid})")
        elif typ == 1 and sub == 1 and len(body) == 2:
            parts.append(f"Pci(0x{body[1]:x},0x{body[0]:x})")
        elif typ == 4 and sub == 8 and len(body) == 20:
            _, start, end = struct.unpack("<IQQ", body)
            parts.append(f"Offset(0x{start:x},0x{end:x})")
        elif typ == 4 and sub == 4:
            parts.append(body.decode("utf-16-le", "replace").rstrip("\0"))
        elif typ == 4 and sub == 1 and len(body) >= 38:
            (num,) = struct.unpack_from("<I", body, 0)
            sig = uuid.UUID(bytes_le=body[20:36])
            parts.append(f"HD({num},GPT,{str(sig).upper()})")
        elif typ == 4 and sub == 6 and len(body) == 16:
            parts.append(f"FvFile({uuid.UUID(bytes_le=body)})")
        elif typ == 4 and sub == 7 and len(body) == 16:
            parts.append(f"Fv({uuid.UUID(bytes_le=body)})")
        else:
            parts.append(f"Path({typ},{sub})")
    return "/".join(parts)


def image_load_event(device_path_str: str, length: int = 0) -> bytes:
    """UEFI_IMAGE_LOAD_EVENT data for a loaded image (addresses are 0: not part of the digest)."""
    dp = device_path(device_path_str)
    return struct.pack("<QQQQ", 0, length, 0, len(dp)) + dp


def load_option(
    description: str, device_path_str: str, attributes: int = 1, optional: bytes = b""
) -> bytes:
    """EFI_LOAD_OPTION (the value of a Boot#### variable)."""
    dp = device_path(device_path_str)
    desc = (description + "\0").encode("utf-16-le")
    return struct.pack("<IH", attributes, len(dp)) + desc + dp + optional


def gpt_event_data(disk: bytes, sector_size: int = 512) -> bytes:
    """UEFI_GPT_DATA of a disk image: GPT header, number of used entries, the used entries."""
    if len(disk) < 2 * sector_size:
        raise PredictionError("disk image too small for a GPT")
    hdr = disk[sector_size : 2 * sector_size]
    if hdr[:8] != b"EFI PART":
        raise PredictionError("no GPT header at LBA 1")
    (header_size,) = struct.unpack_from("<I", hdr, 12)
    entries_lba, count, entry_size = struct.unpack_from("<QII", hdr, 72)
    if not 92 <= header_size <= sector_size or entry_size < 128 or count > 4096:
        raise PredictionError("implausible GPT header fields")
    start = entries_lba * sector_size
    if start + count * entry_size > len(disk):
        raise PredictionError("GPT entry array runs past the end of the disk image")
    used = []
    for i in range(count):
        entry = disk[start + i * entry_size : start + (i + 1) * entry_size]
        if entry[:16] != b"\0" * 16:
            used.append(entry)
    # edk2 logs sizeof(EFI_PARTITION_TABLE_HEADER) = 92 bytes of the header.
    return hdr[:92] + struct.pack("<Q", len(used)) + b"".join(used)


# --- Authenticode ----------------------------------------------------------------------------


def authenticode_digest(pe: bytes, alg: str = "sha256") -> bytes:
    """Authenticode hash of a PE/COFF image, as EDK2 measures it (``tcg.authenticode``)."""
    try:
        return tcg_authenticode.authenticode_hash(pe, alg)
    except tcg_authenticode.AuthenticodeError as exc:
        raise PredictionError(str(exc)) from None


def option_rom_images(rom: bytes) -> list[tuple[int, int, bytes]]:
    """The UEFI driver images of a PCI option ROM file: [(start, end, PE bytes)].

    ``start``/``end`` are what the firmware writes in the Offset() device-path node; the PE bytes
    are what it hands to LoadImage and measures.
    """
    try:
        images = tcg_authenticode.option_rom_images(rom)
    except tcg_authenticode.AuthenticodeError as exc:
        raise PredictionError(str(exc)) from None
    return [(i.offset, i.end, i.image) for i in images]


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformProfile:
    """A hardware SKU: the banks its firmware measures into and the PCRs we attest."""

    sku: str
    name: str = ""
    banks: tuple[str, ...] = BANKS
    pcrs: tuple[int, ...] = tuple(range(8))


@dataclass(frozen=True)
class FirmwareRelease:
    """A firmware build for one SKU and its reference measurements (a template with slots)."""

    version: str
    sku: str
    template: tuple[Event, ...]
    startup_locality: int = 0
    source: str = "artefacts"  # or "golden-boot"


@dataclass(frozen=True)
class BootEntry:
    """A Boot#### variable: its number and EFI_LOAD_OPTION value."""

    number: int
    value: bytes

    @property
    def name(self) -> str:
        return f"Boot{self.number:04X}"


@dataclass(frozen=True)
class OptionRom:
    """A plugged PCIe card's option ROM: where it sits and what it contains.

    Give either the ROM file (``rom``) or the driver digests (``digests``: list of {bank: bytes},
    one per UEFI driver image, with ``ranges`` the (start, end) of each for the device path).
    """

    pci_path: str
    rom: bytes | None = None
    digests: tuple[Mapping[str, bytes], ...] = ()
    ranges: tuple[tuple[int, int], ...] = ()
    name: str = ""

    def drivers(self, banks: Sequence[str]) -> list[tuple[str, Mapping[str, bytes]]]:
        """[(device path text, {bank: digest})] for every UEFI driver in this ROM."""
        if self.rom is not None:
            return [
                (
                    f"{self.pci_path}/Offset(0x{start:x},0x{end:x})",
                    {b: authenticode_digest(pe, b) for b in banks},
                )
                for start, end, pe in option_rom_images(self.rom)
            ]
        if len(self.ranges) not in (0, len(self.digests)):
            raise PredictionError(f"option ROM at {self.pci_path}: ranges and digests differ")
        out = []
        for i, digests in enumerate(self.digests):
            missing = [b for b in banks if b not in digests]
            if missing:
                raise PredictionError(f"option ROM at {self.pci_path}: no {missing[0]} digest")
            path = self.pci_path
            if self.ranges:
                path += "/Offset(0x{:x},0x{:x})".format(*self.ranges[i])
            out.append((path, digests))
        return out


@dataclass(frozen=True)
class BootBinary:
    """A boot application (loader, UKI, kernel) by image bytes or by precomputed digests."""

    path: str
    image: bytes | None = None
    digests: Mapping[str, bytes] = field(default_factory=dict)

    def digest(self, bank: str) -> bytes:
        if self.image is not None:
            return authenticode_digest(self.image, bank)
        if bank not in self.digests:
            raise PredictionError(f"boot binary {self.path}: no {bank} digest")
        return self.digests[bank]


@dataclass(frozen=True)
class NodeConfiguration:
    """What a node's firmware measures beyond its own code.

    ``secure_boot``: None when the firmware has no SecureBoot variable (measured empty).
    ``gpt``: UEFI_GPT_DATA (use ``gpt_event_data(disk_image)``), None when nothing is booted
    from a GPT disk. ``authorities``: EFI_SIGNATURE_DATA of db entries that verified images.
    """

    secure_boot: bool | None = None
    pk: bytes = b""
    kek: bytes = b""
    db: bytes = b""
    dbx: bytes = b""
    boot_order: tuple[int, ...] = ()
    boot_entries: tuple[BootEntry, ...] = ()
    gpt: bytes | None = None
    boot_binaries: tuple[BootBinary, ...] = ()
    option_roms: tuple[OptionRom, ...] = ()
    authorities: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Variants:
    """Approved alternatives; every combination is one acceptable PCR vector.

    Empty tuples mean "only what the configuration says".
    """

    option_rom_sets: tuple[tuple[OptionRom, ...], ...] = ()
    boot_orders: tuple[tuple[int, ...], ...] = ()
    boot_entry_sets: tuple[tuple[BootEntry, ...], ...] = ()
    releases: tuple[FirmwareRelease, ...] = ()


@dataclass(frozen=True)
class Prediction:
    """Expected measured events (log order) and PCR values {bank: {pcr: hex}}."""

    events: tuple[Event, ...]
    pcrs: Mapping[str, Mapping[int, str]]
    release_version: str = ""
    startup_locality: int = 0

    def eventlog(self, banks: Sequence[str] = BANKS) -> bytes:
        """The crypto-agile binary event log a firmware would write for this prediction."""
        events = list(self.events)
        if self.startup_locality:
            # Locality is carried by a StartupLocality EV_NO_ACTION record right after the header.
            head = serialize_eventlog([], banks)
            loc = b"StartupLocality\0" + bytes([self.startup_locality])
            rec = struct.pack("<III", 0, EV_NO_ACTION, len(banks))
            rec += b"".join(struct.pack("<H", ALG_IDS[b]) + b"\0" * DIGEST_SIZES[b] for b in banks)
            rec += struct.pack("<I", len(loc)) + loc
            return head + rec + serialize_eventlog(events, banks)[len(head) :]
        return serialize_eventlog(events, banks)


def _slot_marker(pcr: int, slot: str, type_: int = 0) -> Event:
    return Event(pcr, type_, {}, b"", slot=slot)


def edk2_template(
    banks: Sequence[str] = BANKS,
    firmware_blobs: Sequence[bytes] = (),
    crtm_version: bytes = b"\0\0",
    exit_boot_services: bool = True,
) -> tuple[Event, ...]:
    """The EDK2 (Tcg2Dxe) measurement sequence, PCR0 computed from firmware volume contents.

    ``firmware_blobs`` are the measured firmware volumes (their hash is the blob digest).
    """
    t: list[Event] = [_constant_event(0, EV_S_CRTM_VERSION, crtm_version, banks)]
    for i, blob in enumerate(firmware_blobs):
        data = struct.pack("<QQ", 0xFFC00000 + i * 0x100000, len(blob))
        t.append(Event(0, EV_EFI_PLATFORM_FIRMWARE_BLOB, {b: _hash(b, blob) for b in banks}, data))
    t += [
        _slot_marker(7, SLOT_SECURE_BOOT),
        separator(7, banks),
        _slot_marker(1, SLOT_BOOT_VARIABLES, EV_EFI_VARIABLE_BOOT),
        _slot_marker(2, SLOT_OPTION_ROMS),
        _slot_marker(7, SLOT_AUTHORITIES),
        efi_action(4, CALLING_EFI_APPLICATION, banks),
        *(separator(p, banks) for p in range(7)),
        _slot_marker(5, SLOT_GPT),
        _slot_marker(4, SLOT_BOOT_APPS),
    ]
    if exit_boot_services:
        t += [efi_action(5, EXIT_BOOT_SERVICES, banks), efi_action(5, EXIT_BOOT_SERVICES_OK, banks)]
    return tuple(t)


def _slot_of(ev: Event) -> str | None:
    """Which configuration slot a logged event belongs to (None: firmware reference/constant)."""
    if ev.pcr == 7 and ev.type == EV_EFI_VARIABLE_DRIVER_CONFIG:
        return SLOT_SECURE_BOOT
    if ev.pcr == 7 and ev.type == EV_EFI_VARIABLE_AUTHORITY:
        return SLOT_AUTHORITIES
    if ev.type in (EV_EFI_VARIABLE_BOOT, EV_EFI_VARIABLE_BOOT2):
        return SLOT_BOOT_VARIABLES
    if ev.pcr == 2 and ev.type in (EV_EFI_BOOT_SERVICES_DRIVER, EV_EFI_RUNTIME_SERVICES_DRIVER):
        return SLOT_OPTION_ROMS
    if ev.pcr == 4 and ev.type == EV_EFI_BOOT_SERVICES_APPLICATION:
        return SLOT_BOOT_APPS
    if ev.type == EV_EFI_GPT_EVENT:
        return SLOT_GPT
    return None


def harvest_reference(
    eventlog_bytes: bytes, version: str, sku: str, banks: Sequence[str] | None = None
) -> FirmwareRelease:
    """A firmware release from one golden boot log of that build on that SKU.

    Opaque firmware events (PCR0 blobs, S-CRTM, POST codes, microcode, handoff tables...) and
    constants (separators, actions) are kept with their digests; the events that depend on the
    node's configuration become slots, recomputed by ``predict`` from the configuration.
    """
    events, locality = parse_eventlog(eventlog_bytes)
    if not events:
        raise PredictionError("golden event log has no measured events")
    have = set(events[0].digests)
    for ev in events:
        have &= set(ev.digests)
    wanted = tuple(banks) if banks else tuple(b for b in BANKS if b in have)
    missing = [b for b in wanted if b not in have]
    if missing or not wanted:
        raise PredictionError(f"golden event log lacks bank(s) {missing or list(BANKS)}")
    template: list[Event] = []
    seen: set[str] = set()
    for ev in events:
        slot = _slot_of(ev)
        if slot is None:
            template.append(replace(ev, digests={b: ev.digests[b] for b in wanted}))
        elif slot not in seen:
            seen.add(slot)
            template.append(_slot_marker(ev.pcr, slot, ev.type))
    for slot in SLOTS:
        if slot in seen:
            continue
        pcr, where = _SLOT_DEFAULT_PLACE[slot]
        seps = [i for i, e in enumerate(template) if e.pcr == pcr and e.type == EV_SEPARATOR]
        if not seps:
            raise PredictionError(f"golden event log has no separator on PCR{pcr}")
        at = seps[0] if where == "before" else seps[0] + 1
        template.insert(at, _slot_marker(pcr, slot))
    return FirmwareRelease(version, sku, tuple(template), locality, source="golden-boot")


def boot_entries_from_eventlog(
    eventlog_bytes: bytes,
) -> tuple[tuple[int, ...], tuple[BootEntry, ...]]:
    """(BootOrder, Boot#### entries) as a golden boot measured them (firmware defaults)."""
    events, _ = parse_eventlog(eventlog_bytes)
    order: tuple[int, ...] = ()
    entries = []
    for ev in events:
        if ev.type not in (EV_EFI_VARIABLE_BOOT, EV_EFI_VARIABLE_BOOT2):
            continue
        _, name, value = _parse_variable_data(ev.data)
        if name == "BootOrder":
            if len(value) % 2:
                raise PredictionError("BootOrder has an odd length")
            order = struct.unpack(f"<{len(value) // 2}H", value)
        elif re.fullmatch(r"Boot[0-9A-F]{4}", name):
            entries.append(BootEntry(int(name[4:], 16), value))
    return order, tuple(entries)


def _fill_slot(marker: Event, config: NodeConfiguration, banks: Sequence[str]) -> list[Event]:
    slot = marker.slot
    if slot == SLOT_SECURE_BOOT:
        sb = b"" if config.secure_boot is None else bytes([int(config.secure_boot)])
        out = []
        for name, guid, value in (
            ("SecureBoot", EFI_GLOBAL_VARIABLE, sb),
            ("PK", EFI_GLOBAL_VARIABLE, config.pk),
            ("KEK", EFI_GLOBAL_VARIABLE, config.kek),
            ("db", EFI_IMAGE_SECURITY_DATABASE, config.db),
            ("dbx", EFI_IMAGE_SECURITY_DATABASE, config.dbx),
        ):
            data = variable_data(name, guid, value)
            digests = {b: _hash(b, data) for b in banks}
            out.append(Event(7, EV_EFI_VARIABLE_DRIVER_CONFIG, digests, data, slot, name))
        return out
    if slot == SLOT_BOOT_VARIABLES:
        etype = marker.type or EV_EFI_VARIABLE_BOOT
        entries = {e.number: e for e in config.boot_entries}
        order_value = struct.pack(f"<{len(config.boot_order)}H", *config.boot_order)
        items = [("BootOrder", order_value)]
        for number in config.boot_order:
            if number in entries:
                items.append((entries[number].name, entries[number].value))
        out = []
        for name, value in items:
            data = variable_data(name, EFI_GLOBAL_VARIABLE, value)
            # EV_EFI_VARIABLE_BOOT hashes the value only; BOOT2 the whole UEFI_VARIABLE_DATA.
            hashed = value if etype == EV_EFI_VARIABLE_BOOT else data
            digests = {b: _hash(b, hashed) for b in banks}
            out.append(Event(marker.pcr, etype, digests, data, slot, name))
        return out
    if slot == SLOT_OPTION_ROMS:
        out = []
        for rom in config.option_roms:
            for path, digests in rom.drivers(banks):
                data = image_load_event(path)
                out.append(Event(2, EV_EFI_BOOT_SERVICES_DRIVER, dict(digests), data, slot, path))
        return out
    if slot == SLOT_AUTHORITIES:
        out = []
        for sig in config.authorities:
            data = variable_data("db", EFI_IMAGE_SECURITY_DATABASE, sig)
            out.append(
                Event(7, EV_EFI_VARIABLE_AUTHORITY, {b: _hash(b, data) for b in banks}, data, slot)
            )
        return out
    if slot == SLOT_GPT:
        if config.gpt is None:
            return []
        digests = {b: _hash(b, config.gpt) for b in banks}
        return [Event(marker.pcr, EV_EFI_GPT_EVENT, digests, config.gpt, slot, "GPT")]
    if slot == SLOT_BOOT_APPS:
        out = []
        for binary in config.boot_binaries:
            digests = {b: binary.digest(b) for b in banks}
            data = struct.pack("<QQQQ", 0, len(binary.image or b""), 0, 0)
            out.append(Event(4, EV_EFI_BOOT_SERVICES_APPLICATION, digests, data, slot, binary.path))
        return out
    raise PredictionError(f"unknown slot {slot!r} in firmware template")


def predict(
    profile: PlatformProfile, release: FirmwareRelease, config: NodeConfiguration
) -> Prediction:
    """Expected event sequence and PCR values of ``config`` booting ``release`` on ``profile``."""
    if release.sku != profile.sku:
        raise PredictionError(
            f"firmware release {release.version} is for SKU {release.sku}, not {profile.sku}"
        )
    banks = profile.banks
    events: list[Event] = []
    for item in release.template:
        if item.slot and not item.digests:
            events.extend(_fill_slot(item, config, banks))
        else:
            missing = [b for b in banks if b not in item.digests]
            if missing:
                raise PredictionError(
                    f"release {release.version} has no {missing[0]} reference digest"
                )
            events.append(item)
    pcrs = replay(events, banks, profile.pcrs, release.startup_locality)
    return Prediction(tuple(events), pcrs, release.version, release.startup_locality)


def acceptable_pcr_sets(
    profile: PlatformProfile,
    release: FirmwareRelease,
    config: NodeConfiguration,
    variants: Variants | None = None,
    bank: str = "sha256",
) -> list[dict[int, str]]:
    """Every PCR vector an approved variant of this node may show (deduplicated, stable order).

    A quote is acceptable iff its PCRs equal one of these vectors exactly.
    """
    v = variants or Variants()
    releases = v.releases or (release,)
    rom_sets = v.option_rom_sets or (config.option_roms,)
    orders = v.boot_orders or (config.boot_order,)
    entry_sets = v.boot_entry_sets or (config.boot_entries,)
    out: list[dict[int, str]] = []
    seen = set()
    for rel, roms, order, entries in itertools.product(releases, rom_sets, orders, entry_sets):
        cfg = replace(config, option_roms=tuple(roms), boot_order=order, boot_entries=entries)
        pcrs = predict(profile, rel, cfg).pcrs[bank]
        key = tuple(sorted(pcrs.items()))
        if key not in seen:
            seen.add(key)
            out.append(dict(pcrs))
    return out


# --- explanation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Divergence:
    """Why one PCR differs: the PCR, the first divergent event on it, plain words."""

    pcr: int
    kind: str
    message: str
    index: int = -1  # position of the divergent event among that PCR's events
    expected: str = ""
    actual: str = ""


def _explain_pcr(
    pcr: int, expected: list[Event], actual: list[Event], bank: str, release: str
) -> Divergence:
    i = 0
    while (
        i < len(expected)
        and i < len(actual)
        and expected[i].type == actual[i].type
        and expected[i].digests.get(bank) == actual[i].digests.get(bank)
    ):
        i += 1
    exp = expected[i] if i < len(expected) else None
    act = actual[i] if i < len(actual) else None
    ref = exp or act
    assert ref is not None  # values differ, so the sequences differ somewhere
    # The logged event says what actually happened; fall back to what was expected there.
    slot = (_slot_of(act) if act else None) or (exp.slot if exp else "") or _slot_of(ref) or ""
    where = act.label if act and act.label else (exp.label if exp else "")
    if slot == SLOT_OPTION_ROMS:
        if act is not None and act.type in (
            EV_EFI_BOOT_SERVICES_DRIVER,
            EV_EFI_RUNTIME_SERVICES_DRIVER,
        ):
            kind = "option_rom"
            msg = (
                f"PCR{pcr}: an option ROM not in the approved set was loaded from "
                f"{act.label or 'an unknown device'} — a new or changed PCIe card"
            )
        else:
            kind = "option_rom_missing"
            msg = (
                f"PCR{pcr}: the approved option ROM from {exp.label if exp else '?'} was not "
                "loaded — a PCIe card was removed or its ROM disabled"
            )
    elif slot == SLOT_BOOT_VARIABLES:
        name = (act.label if act else "") or (exp.label if exp else "")
        if name == "BootOrder":
            kind, msg = "boot_order", f"PCR{pcr}: BootOrder changed"
        else:
            kind = "boot_entry"
            msg = f"PCR{pcr}: boot entry {name or '?'} was added, removed or changed"
    elif slot == SLOT_SECURE_BOOT:
        name = (act.label if act else "") or (exp.label if exp else "")
        kind = "secure_boot"
        msg = f"PCR{pcr}: Secure Boot configuration changed ({name or 'variable'})"
    elif slot == SLOT_AUTHORITIES:
        kind = "authority"
        msg = f"PCR{pcr}: a different Secure Boot authority verified a loaded image"
    elif slot == SLOT_BOOT_APPS:
        kind = "boot_loader"
        msg = f"PCR{pcr}: boot loader binary changed ({where or 'boot application'})"
    elif slot == SLOT_GPT:
        kind = "gpt"
        msg = f"PCR{pcr}: the boot disk's partition table (GPT) changed"
    elif ref.type == EV_EFI_ACTION and act is not None and act.label.startswith("Returning"):
        kind = "boot_attempt"
        msg = f"PCR{pcr}: a boot attempt failed and the firmware tried another boot option"
    elif ref.type in (EV_SEPARATOR, EV_EFI_ACTION):
        kind = "boot_flow"
        msg = f"PCR{pcr}: the boot flow differs ({ref.describe()})"
    else:
        kind = "firmware"
        msg = f"PCR{pcr}: firmware differs from release {release} ({ref.describe()})"
    return Divergence(
        pcr, kind, msg, i, exp.describe() if exp else "(none)", act.describe() if act else "(none)"
    )


def explain(
    prediction: Prediction,
    actual_eventlog: bytes,
    quoted_pcrs: Mapping[int, str] | None = None,
    bank: str = "sha256",
) -> list[Divergence]:
    """Name each PCR where the node's event log departs from the prediction, and why.

    With ``quoted_pcrs`` (the values the TPM signed), PCRs where the log does not replay to the
    quote are reported as tampered/incomplete logs: such a log cannot explain anything.
    """
    events, locality = parse_eventlog(actual_eventlog)
    if any(bank not in e.digests for e in events):
        raise PredictionError(f"event log has events without a {bank} digest")
    predicted = prediction.pcrs.get(bank)
    if predicted is None:
        raise PredictionError(f"prediction has no {bank} bank")
    replayed = replay(events, [bank], predicted.keys(), locality)[bank]
    out: list[Divergence] = []
    for pcr in sorted(predicted):
        if quoted_pcrs is not None and quoted_pcrs.get(pcr, replayed[pcr]).lower() != replayed[pcr]:
            out.append(
                Divergence(
                    pcr,
                    "log_replay",
                    f"PCR{pcr}: the event log does not replay to the quoted value — the log "
                    "was altered or is incomplete, so it cannot explain this PCR",
                )
            )
            continue
        if replayed[pcr] == predicted[pcr]:
            continue
        exp = [e for e in prediction.events if e.pcr == pcr]
        act = [e for e in events if e.pcr == pcr]
        if pcr == 0 and locality != prediction.startup_locality:
            out.append(
                Divergence(
                    0,
                    "firmware",
                    f"PCR0: startup locality {locality} instead of "
                    f"{prediction.startup_locality} — firmware or platform changed",
                )
            )
            continue
        out.append(_explain_pcr(pcr, exp, act, bank, prediction.release_version))
    return out
