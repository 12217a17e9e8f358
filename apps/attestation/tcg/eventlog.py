"""TCG PC Client event logs: parse (SHA-1 and crypto-agile), replay, decode, write.

Formats (TCG PC Client Platform Firmware Profile): the first record is always a legacy
``TCG_PCR_EVENT`` (SHA-1). If it is the ``Spec ID Event03`` EV_NO_ACTION header the log is
crypto-agile and every further record is a ``TCG_PCR_EVENT2`` whose digest sizes come only from
the header's algorithm table. Everything is little-endian.

Replay: ``PCR = H(PCR || digest)`` for every event except EV_NO_ACTION, from the initial values
(PCR0 = locality from the StartupLocality event, PCR17-22 = FF..FF, others zero).

Every malformed input raises :class:`EventLogError` with the offset and a reason; length fields
are checked against the remaining bytes before anything is read, so huge lengths cannot allocate.
Payload decoding is lazy (``Event.decoded``) and never raises: an undecodable payload becomes an
``Undecoded`` value, because payloads are not covered by the digests and must not make an
otherwise valid log unusable. ``parse_event_log(..., strict=True)`` decodes eagerly and raises.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import uefi
from .errors import EventLogError
from .uefi import (
    FirmwareBlob,
    GptData,
    ImageLoad,
    LoadOption,
    NoAction,
    Payload,
    Raw,
    Separator,
    SignatureData,
    SignatureList,
    SpecIdEvent,
    StartupLocality,
    Text,
    UefiVariable,
    Undecoded,
)

__all__ = [
    "ALG_IDS",
    "DIGEST_SIZES",
    "EVENT_TYPES",
    "Event",
    "EventLog",
    "EventLogError",
    "FirmwareBlob",
    "GptData",
    "ImageLoad",
    "LoadOption",
    "NoAction",
    "Payload",
    "Raw",
    "Separator",
    "SignatureData",
    "SignatureList",
    "SpecIdEvent",
    "StartupLocality",
    "Text",
    "UefiVariable",
    "Undecoded",
    "extend",
    "hash_data",
    "initial_pcr",
    "inject_missing_exit_boot_services",
    "make_event",
    "parse_event_log",
    "replay",
    "replay_log",
    "serialize_crypto_agile",
    "startup_locality",
]

# TPM_ALG_ID -> (bank name, digest size); the names are those tpm2-tools uses.
ALG_IDS: dict[int, str] = {
    0x0004: "sha1",
    0x000B: "sha256",
    0x000C: "sha384",
    0x000D: "sha512",
    0x0012: "sm3_256",
    0x0027: "sha3_256",
    0x0028: "sha3_384",
    0x0029: "sha3_512",
}
ALG_BY_NAME: dict[str, int] = {v: k for k, v in ALG_IDS.items()}
DIGEST_SIZES: dict[str, int] = {
    "sha1": 20,
    "sha256": 32,
    "sha384": 48,
    "sha512": 64,
    "sm3_256": 32,
    "sha3_256": 32,
    "sha3_384": 48,
    "sha3_512": 64,
}
_HASHLIB = {"sm3_256": "sm3"}

EV_NO_ACTION = 0x3
EV_SEPARATOR = 0x4
EV_EFI_ACTION = 0x80000007
EV_EFI_HCRTM_EVENT = 0x80000010

EVENT_TYPES: dict[int, str] = {
    0x0: "EV_PREBOOT_CERT",
    0x1: "EV_POST_CODE",
    0x2: "EV_UNUSED",
    0x3: "EV_NO_ACTION",
    0x4: "EV_SEPARATOR",
    0x5: "EV_ACTION",
    0x6: "EV_EVENT_TAG",
    0x7: "EV_S_CRTM_CONTENTS",
    0x8: "EV_S_CRTM_VERSION",
    0x9: "EV_CPU_MICROCODE",
    0xA: "EV_PLATFORM_CONFIG_FLAGS",
    0xB: "EV_TABLE_OF_DEVICES",
    0xC: "EV_COMPACT_HASH",
    0xD: "EV_IPL",
    0xE: "EV_IPL_PARTITION_DATA",
    0xF: "EV_NONHOST_CODE",
    0x10: "EV_NONHOST_CONFIG",
    0x11: "EV_NONHOST_INFO",
    0x12: "EV_OMIT_BOOT_DEVICE_EVENTS",
    0x13: "EV_POST_CODE2",
    0x80000001: "EV_EFI_VARIABLE_DRIVER_CONFIG",
    0x80000002: "EV_EFI_VARIABLE_BOOT",
    0x80000003: "EV_EFI_BOOT_SERVICES_APPLICATION",
    0x80000004: "EV_EFI_BOOT_SERVICES_DRIVER",
    0x80000005: "EV_EFI_RUNTIME_SERVICES_DRIVER",
    0x80000006: "EV_EFI_GPT_EVENT",
    0x80000007: "EV_EFI_ACTION",
    0x80000008: "EV_EFI_PLATFORM_FIRMWARE_BLOB",
    0x80000009: "EV_EFI_HANDOFF_TABLES",
    0x8000000A: "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
    0x8000000B: "EV_EFI_HANDOFF_TABLES2",
    0x8000000C: "EV_EFI_VARIABLE_BOOT2",
    0x8000000D: "EV_EFI_GPT_EVENT2",
    0x80000010: "EV_EFI_HCRTM_EVENT",
    0x800000E0: "EV_EFI_VARIABLE_AUTHORITY",
    0x800000E1: "EV_EFI_SPDM_FIRMWARE_BLOB",
    0x800000E2: "EV_EFI_SPDM_FIRMWARE_CONFIG",
    0x800000E3: "EV_EFI_SPDM_DEVICE_POLICY",
    0x800000E4: "EV_EFI_SPDM_DEVICE_AUTHORITY",
}
EVENT_TYPE_IDS: dict[str, int] = {v: k for k, v in EVENT_TYPES.items()}

NUM_PCRS = 24
_SPEC_ID_SIGNATURE = b"Spec ID Event03\0"
_STARTUP_LOCALITY = b"StartupLocality\0"
_HEADER = struct.Struct("<II20sI")
_EVENT2_HEAD = struct.Struct("<III")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")


def _type_id(event_type: int | str) -> int:
    if isinstance(event_type, str):
        try:
            return EVENT_TYPE_IDS[event_type]
        except KeyError:
            raise EventLogError(-1, f"unknown event type {event_type!r}") from None
    return event_type


def hash_data(bank: str, data: bytes) -> bytes:
    """Digest of ``data`` with the bank's hash algorithm."""
    if bank not in DIGEST_SIZES:
        raise EventLogError(-1, f"unknown PCR bank {bank!r}")
    return hashlib.new(_HASHLIB.get(bank, bank), data).digest()


def extend(bank: str, pcr_value: bytes, digest: bytes) -> bytes:
    """One PCR extend: ``H(pcr_value || digest)`` (both must have the bank's digest size)."""
    size = DIGEST_SIZES.get(bank)
    if size is None:
        raise EventLogError(-1, f"unknown PCR bank {bank!r}")
    if len(pcr_value) != size or len(digest) != size:
        raise EventLogError(-1, f"{bank} values must be {size} bytes")
    return hashlib.new(_HASHLIB.get(bank, bank), pcr_value + digest).digest()


def initial_pcr(bank: str, pcr: int, locality: int = 0) -> bytes:
    """The value of a PCR after TPM startup (PCR0 carries the startup locality)."""
    size = DIGEST_SIZES.get(bank)
    if size is None:
        raise EventLogError(-1, f"unknown PCR bank {bank!r}")
    if pcr == 0:
        return bytes(size - 1) + bytes([locality])
    if 17 <= pcr <= 22:
        return b"\xff" * size
    return bytes(size)


@dataclass(eq=False, slots=True)
class Event:
    """One event-log record.

    ``index`` is the record number (0 = first record, the Spec ID header of crypto-agile logs),
    ``offset`` the byte offset of the record and ``data_offset`` that of its payload,
    ``digests`` maps bank name to digest. ``decoded`` is the decoded payload (never raises).
    """

    index: int
    pcr: int
    type: int
    digests: dict[str, bytes]
    data: bytes
    offset: int = 0
    data_offset: int = 0
    _decoded: Payload | None = field(default=None, init=False, repr=False)

    @property
    def type_name(self) -> str:
        return EVENT_TYPES.get(self.type, f"EV_UNKNOWN_0x{self.type:08x}")

    @property
    def measured(self) -> bool:
        """False for EV_NO_ACTION, which is logged but never extended."""
        return self.type != EV_NO_ACTION

    @property
    def decoded(self) -> Payload:
        if self._decoded is None:
            try:
                self._decoded = decode_payload(self)
            except EventLogError as exc:
                self._decoded = Undecoded(exc.reason)
        return self._decoded

    def summary(self) -> str:
        """One-line text of the decoded payload."""
        return self.decoded.summary()


@dataclass
class EventLog:
    """A parsed event log: its format, banks, Spec ID header (crypto-agile) and events."""

    format: str  # "sha1" or "crypto-agile"
    banks: tuple[str, ...]
    events: list[Event]
    spec_id: SpecIdEvent | None = None

    @property
    def startup_locality(self) -> int:
        return startup_locality(self.events)


def decode_payload(event: Event) -> Payload:
    """Decode the payload of one event by its type; raises EventLogError when malformed."""
    t, data, base = event.type, event.data, event.data_offset
    name = event.type_name
    if t == EV_NO_ACTION:
        if data.startswith(_SPEC_ID_SIGNATURE):
            return _parse_spec_id(data, base)
        if data.startswith(_STARTUP_LOCALITY):
            if len(data) != 17:
                raise EventLogError(base, f"StartupLocality event of {len(data)} bytes, not 17")
            return StartupLocality(data[16])
        sig = data[:16].split(b"\0", 1)[0].decode("ascii", errors="replace")
        return NoAction(sig, data[16:])
    if name in ("EV_EFI_VARIABLE_DRIVER_CONFIG", "EV_EFI_VARIABLE_BOOT", "EV_EFI_VARIABLE_BOOT2"):
        return uefi.decode_variable(data, base)
    if name == "EV_EFI_VARIABLE_AUTHORITY":
        return uefi.decode_variable(data, base, authority=True)
    if name in (
        "EV_EFI_BOOT_SERVICES_APPLICATION",
        "EV_EFI_BOOT_SERVICES_DRIVER",
        "EV_EFI_RUNTIME_SERVICES_DRIVER",
    ):
        return uefi.decode_image_load(data, base)
    if name in ("EV_EFI_GPT_EVENT", "EV_EFI_GPT_EVENT2"):
        return uefi.decode_gpt(data, base)
    if name == "EV_EFI_PLATFORM_FIRMWARE_BLOB":
        return uefi.decode_firmware_blob(data, base)
    if name == "EV_EFI_PLATFORM_FIRMWARE_BLOB2":
        return uefi.decode_firmware_blob(data, base, v2=True)
    if name == "EV_EFI_HANDOFF_TABLES":
        return uefi.decode_handoff_tables(data, base)
    if t == EV_SEPARATOR:
        if len(data) == 4:
            return Separator(int.from_bytes(data, "little"))
        return Raw(data)
    if name == "EV_POST_CODE" and len(data) == 16 and not _printable(data):
        return uefi.decode_firmware_blob(data, base)
    if name in ("EV_EFI_ACTION", "EV_ACTION", "EV_POST_CODE", "EV_IPL", "EV_EVENT_TAG"):
        if _printable(data.rstrip(b"\0")):
            return Text(data.rstrip(b"\0").decode("ascii"))
        return Raw(data)
    if name == "EV_S_CRTM_VERSION":
        # Usually a UTF-16 version string, sometimes a GUID or other binary identifier.
        text = uefi._utf16z(data) if len(data) % 2 == 0 else ""
        if text.isprintable():
            return Text(text)
        return Raw(data)
    return Raw(data)


def _printable(data: bytes) -> bool:
    return all(32 <= b < 127 or b in (9, 10, 13) for b in data)


def _parse_spec_id(data: bytes, base: int) -> SpecIdEvent:
    r = uefi._Reader(data, base)
    r.take(16, "Spec ID signature")
    platform_class = r.u32("platformClass")
    minor, major, errata = r.u8("specVersionMinor"), r.u8("specVersionMajor"), r.u8("errata")
    uintn = r.u8("uintnSize")
    count = r.u32("numberOfAlgorithms")
    if count == 0 or count > r.left // 4:
        r.pos -= 4
        raise r.fail(f"Spec ID numberOfAlgorithms {count} does not fit the event")
    algs: list[tuple[int, int]] = []
    for _ in range(count):
        alg, size = r.u16("algorithmId"), r.u16("digestSize")
        known = ALG_IDS.get(alg)
        if known is not None and DIGEST_SIZES[known] != size:
            r.pos -= 2
            raise r.fail(f"Spec ID gives {known} a digest size of {size}")
        if size == 0 or any(a == alg for a, _ in algs):
            r.pos -= 4
            raise r.fail(f"Spec ID algorithm 0x{alg:04x} is duplicated or has size 0")
        algs.append((alg, size))
    vendor = r.take(r.u8("vendorInfoSize"), "vendorInfo")
    if r.left:
        raise r.fail(f"{r.left} trailing bytes after the Spec ID event")
    if major != 2:
        raise EventLogError(base + 21, f"Spec ID version {major}.{minor} is not 2.x")
    return SpecIdEvent(platform_class, (major, minor, errata), uintn, algs, vendor)


def _bank_name(alg: int) -> str:
    return ALG_IDS.get(alg, f"alg_0x{alg:04x}")


def parse_event_log(data: bytes | bytearray | memoryview, *, strict: bool = False) -> EventLog:
    """Parse a binary event log (e.g. /sys/kernel/security/tpm0/binary_bios_measurements).

    With ``strict`` every payload is decoded now and a malformed payload raises too.
    """
    buf = bytes(data)
    total = len(buf)
    if total == 0:
        raise EventLogError(0, "empty event log")
    if total < _HEADER.size:
        raise EventLogError(0, f"truncated first event header: {total} bytes, need 32")
    pcr, etype, digest, size = _HEADER.unpack_from(buf, 0)
    if size > total - _HEADER.size:
        raise EventLogError(28, f"event size {size} exceeds the {total - 32} remaining bytes")
    first_data = buf[32 : 32 + size]
    events: list[Event] = []
    if etype == EV_NO_ACTION and pcr == 0 and first_data.startswith(_SPEC_ID_SIGNATURE):
        spec = _parse_spec_id(first_data, 32)
        if digest != bytes(20):
            raise EventLogError(8, "Spec ID event digest is not zero")
        header = Event(0, 0, etype, {"sha1": digest}, first_data, 0, 32)
        header._decoded = spec
        events.append(header)
        _parse_agile(buf, 32 + size, spec, events)
        log = EventLog("crypto-agile", tuple(_bank_name(a) for a, _ in spec.algorithms), events)
        log.spec_id = spec
    else:
        _parse_sha1(buf, events)
        log = EventLog("sha1", ("sha1",), events)
    if strict:
        for ev in events:
            if ev._decoded is None:
                ev._decoded = decode_payload(ev)
    return log


def _check_pcr(pcr: int, etype: int, offset: int) -> None:
    if pcr >= NUM_PCRS and etype != EV_NO_ACTION:
        raise EventLogError(offset, f"PCR index {pcr} is out of range 0-23")


def _parse_sha1(buf: bytes, events: list[Event]) -> None:
    total, pos, unpack = len(buf), 0, _HEADER.unpack_from
    while pos < total:
        if total - pos < 32:
            raise EventLogError(pos, f"truncated event header: {total - pos} bytes, need 32")
        pcr, etype, digest, size = unpack(buf, pos)
        _check_pcr(pcr, etype, pos)
        if size > total - pos - 32:
            raise EventLogError(
                pos + 28, f"event size {size} exceeds the {total - pos - 32} remaining bytes"
            )
        d = pos + 32
        events.append(Event(len(events), pcr, etype, {"sha1": digest}, buf[d : d + size], pos, d))
        pos = d + size


def _parse_agile(buf: bytes, pos: int, spec: SpecIdEvent, events: list[Event]) -> None:
    total = len(buf)
    sizes = {alg: (size, _bank_name(alg)) for alg, size in spec.algorithms}
    max_count = len(sizes)
    head, u16, u32 = _EVENT2_HEAD.unpack_from, _U16.unpack_from, _U32.unpack_from
    # Fast path: nearly every record carries all banks in Spec ID order, so one precompiled
    # struct reads the whole header; anything else falls through to the checked slow path.
    fast = struct.Struct("<III" + "".join(f"H{size}s" for _, size in spec.algorithms) + "I")
    fast_size, fast_unpack = fast.size, fast.unpack_from
    alg_ids = tuple(alg for alg, _ in spec.algorithms)
    bank_names = [_bank_name(alg) for alg in alg_ids]
    nbanks = len(alg_ids)
    alg_end = 3 + 2 * nbanks
    append = events.append
    while pos < total:
        start = pos
        if total - pos >= fast_size:
            fields = fast_unpack(buf, pos)
            if fields[2] == nbanks and fields[3:alg_end:2] == alg_ids:
                pcr, etype, size = fields[0], fields[1], fields[-1]
                if pcr >= NUM_PCRS and etype != EV_NO_ACTION:
                    raise EventLogError(pos, f"PCR index {pcr} is out of range 0-23")
                pos += fast_size
                if size > total - pos:
                    raise EventLogError(
                        pos - 4, f"event size {size} exceeds the {total - pos} remaining bytes"
                    )
                digests = dict(zip(bank_names, fields[4:alg_end:2], strict=True))
                append(Event(len(events), pcr, etype, digests, buf[pos : pos + size], start, pos))
                pos += size
                continue
        if total - pos < 12:
            raise EventLogError(pos, f"truncated event header: {total - pos} bytes, need 12")
        pcr, etype, count = head(buf, pos)
        _check_pcr(pcr, etype, pos)
        pos += 12
        if count > max_count:
            raise EventLogError(pos - 4, f"digest count {count} exceeds the {max_count} banks")
        digests: dict[str, bytes] = {}
        for _ in range(count):
            if total - pos < 2:
                raise EventLogError(pos, "truncated digest algorithm id")
            (alg,) = u16(buf, pos)
            entry = sizes.get(alg)
            if entry is None:
                raise EventLogError(pos, f"digest algorithm 0x{alg:04x} is not in the Spec ID")
            size, bank = entry
            if bank in digests:
                raise EventLogError(pos, f"duplicate {bank} digest")
            pos += 2
            if total - pos < size:
                raise EventLogError(pos, f"truncated {bank} digest")
            digests[bank] = buf[pos : pos + size]
            pos += size
        if total - pos < 4:
            raise EventLogError(pos, "truncated event size")
        (size,) = u32(buf, pos)
        if size > total - pos - 4:
            raise EventLogError(
                pos, f"event size {size} exceeds the {total - pos - 4} remaining bytes"
            )
        pos += 4
        events.append(Event(len(events), pcr, etype, digests, buf[pos : pos + size], start, pos))
        pos += size


def startup_locality(events: Iterable[Event]) -> int:
    """PCR0's startup locality: from the StartupLocality event, 4 after an H-CRTM event, else 0."""
    for ev in events:
        if ev.pcr != 0:
            continue
        if ev.type == EV_NO_ACTION and ev.data.startswith(_STARTUP_LOCALITY):
            if len(ev.data) != 17:
                raise EventLogError(ev.data_offset, "StartupLocality event is not 17 bytes")
            return ev.data[16]
        if ev.type == EV_EFI_HCRTM_EVENT:
            return 4
        if ev.type != EV_NO_ACTION:
            # The locality event precedes every PCR0 measurement; later ones are ignored.
            return 0
    return 0


def replay(
    log: EventLog | Sequence[Event], banks: Iterable[str] | None = None
) -> dict[str, dict[int, bytes]]:
    """Replay the log into PCR values: ``{bank: {pcr: value}}`` for all 24 PCRs of each bank.

    ``banks`` defaults to every bank of the log with a known hash; asking for a bank the log
    does not carry, or an event lacking that bank's digest, raises EventLogError.
    """
    events: Sequence[Event] = log.events if isinstance(log, EventLog) else log
    # Default banks: those every measured event carries (some logs omit banks per event).
    common: dict[str, None] | None = None
    for ev in events:
        if ev.type != EV_NO_ACTION:
            common = (
                dict.fromkeys(ev.digests)
                if common is None
                else {b: None for b in common if b in ev.digests}
            )
    common_from_events = common is not None
    if common is None:
        common = dict.fromkeys(log.banks if isinstance(log, EventLog) else ())
    available = [b for b in common if b in DIGEST_SIZES]
    wanted = list(available) if banks is None else list(banks)
    for bank in wanted:
        if bank not in DIGEST_SIZES:
            raise EventLogError(-1, f"unknown PCR bank {bank!r}")
        if bank not in available and common_from_events:
            raise EventLogError(-1, f"the event log has no {bank} bank")
    locality = startup_locality(events)
    result: dict[str, dict[int, bytes]] = {}
    for bank in wanted:
        algo = _HASHLIB.get(bank, bank)
        # hashlib.sha256 etc. are much faster to call than hashlib.new(name) in this hot loop.
        ctor = getattr(hashlib, algo, None) or (lambda data, a=algo: hashlib.new(a, data))
        pcrs = [initial_pcr(bank, i, locality) for i in range(NUM_PCRS)]
        for ev in events:
            if ev.type == EV_NO_ACTION:
                continue
            digest = ev.digests.get(bank)
            if digest is None:
                raise EventLogError(ev.offset, f"event {ev.index} has no {bank} digest")
            pcrs[ev.pcr] = ctor(pcrs[ev.pcr] + digest).digest()
        result[bank] = dict(enumerate(pcrs))
    return result


def make_event(
    pcr: int,
    event_type: int | str,
    data: bytes,
    banks: Iterable[str] = ("sha256",),
    *,
    digests: dict[str, bytes] | None = None,
    hashed: bytes | None = None,
) -> Event:
    """Build an event for the writer or a prediction.

    Digests are ``digests`` when given (e.g. an Authenticode hash per bank), else the hash of
    ``hashed`` (what the firmware hashes, e.g. only the variable value for EV_EFI_VARIABLE_BOOT),
    else the hash of ``data``. EV_NO_ACTION events get zero digests.
    """
    etype = _type_id(event_type)
    if not 0 <= pcr < NUM_PCRS:
        raise EventLogError(-1, f"PCR index {pcr} is out of range 0-23")
    banks = list(banks)
    if digests is not None:
        out = {}
        for bank in banks:
            value = digests.get(bank)
            if value is None or len(value) != DIGEST_SIZES.get(bank, -1):
                raise EventLogError(-1, f"missing or wrong-size {bank} digest")
            out[bank] = bytes(value)
    elif etype == EV_NO_ACTION:
        out = {bank: bytes(DIGEST_SIZES[bank]) for bank in banks}
    else:
        payload = data if hashed is None else hashed
        out = {bank: hash_data(bank, payload) for bank in banks}
    return Event(0, pcr, etype, out, bytes(data))


def separator_event(pcr: int, banks: Iterable[str] = ("sha256",), value: int = 0) -> Event:
    """An EV_SEPARATOR event (digest of the 4-byte value)."""
    return make_event(pcr, EV_SEPARATOR, struct.pack("<I", value), banks)


def action_event(pcr: int, text: str, banks: Iterable[str] = ("sha256",)) -> Event:
    """An EV_EFI_ACTION event (digest of the ASCII string, no NUL)."""
    return make_event(pcr, EV_EFI_ACTION, text.encode("ascii"), banks)


def startup_locality_event(locality: int, banks: Iterable[str] = ("sha256",)) -> Event:
    """The EV_NO_ACTION StartupLocality event (sets PCR0's initial value)."""
    return make_event(0, EV_NO_ACTION, _STARTUP_LOCALITY + bytes([locality]), banks)


EXIT_BOOT_SERVICES_ACTIONS = (
    "Exit Boot Services Invocation",
    "Exit Boot Services Returned with Success",
)


def inject_missing_exit_boot_services(log: EventLog | Sequence[Event]) -> list[Event]:
    """go-attestation's workaround for firmware that extends the two ExitBootServices actions
    into PCR5 without logging them: returns the events with both appended when absent."""
    events = list(log.events if isinstance(log, EventLog) else log)
    for ev in events:
        if ev.type == EV_EFI_ACTION and ev.data.startswith(b"Exit Boot Services"):
            return events
    banks = [b for b in (events[-1].digests if events else {}) if b in DIGEST_SIZES]
    for text in EXIT_BOOT_SERVICES_ACTIONS:
        ev = action_event(5, text, banks)
        ev.index = len(events)
        events.append(ev)
    return events


def serialize_crypto_agile(events: Iterable[Event], banks: Sequence[str]) -> bytes:
    """Write a crypto-agile event log (Spec ID header + TCG_PCR_EVENT2 records).

    Every event must carry a digest for each bank (EV_NO_ACTION events are written with zero
    digests). A Spec ID header event in ``events`` is skipped: the writer emits its own.
    """
    if not banks:
        raise EventLogError(-1, "at least one bank is needed")
    algs = []
    for bank in banks:
        if bank not in ALG_BY_NAME:
            raise EventLogError(-1, f"unknown PCR bank {bank!r}")
        algs.append((ALG_BY_NAME[bank], DIGEST_SIZES[bank]))
    spec = (
        _SPEC_ID_SIGNATURE
        + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, len(algs))
        + b"".join(struct.pack("<HH", a, s) for a, s in algs)
        + b"\0"
    )
    out = [_HEADER.pack(0, EV_NO_ACTION, bytes(20), len(spec)), spec]
    pos = 32 + len(spec)
    for ev in events:
        if ev.type == EV_NO_ACTION and ev.data.startswith(_SPEC_ID_SIGNATURE):
            continue
        if not 0 <= ev.pcr < NUM_PCRS:
            raise EventLogError(pos, f"PCR index {ev.pcr} is out of range 0-23")
        parts = [_EVENT2_HEAD.pack(ev.pcr, ev.type, len(algs))]
        for (alg, size), bank in zip(algs, banks, strict=True):
            digest = ev.digests.get(bank)
            if digest is None and ev.type == EV_NO_ACTION:
                digest = bytes(size)
            if digest is None or len(digest) != size:
                raise EventLogError(pos, f"event {ev.type_name} lacks a {size}-byte {bank} digest")
            parts.append(_U16.pack(alg) + digest)
        parts.append(_U32.pack(len(ev.data)))
        parts.append(ev.data)
        record = b"".join(parts)
        out.append(record)
        pos += len(record)
    return b"".join(out)


def replay_log(
    data: bytes | bytearray | memoryview, banks: Iterable[str] | None = None
) -> dict[str, dict[int, bytes]]:
    """``replay(parse_event_log(data), banks)`` without building Event objects.

    The verifier's hot path only needs the digests to check that a log replays to a quote.
    Regular crypto-agile logs (every record carries every bank in Spec ID order) are replayed
    straight from the bytes; anything else takes the full parser, so the results and errors
    are exactly those of ``parse_event_log`` + ``replay``.
    """
    buf = bytes(data)
    total = len(buf)

    def slow() -> dict[str, dict[int, bytes]]:
        return replay(parse_event_log(buf), banks)

    if total < _HEADER.size:
        return slow()
    pcr, etype, digest, size = _HEADER.unpack_from(buf, 0)
    first = buf[32 : 32 + size]
    if not (
        etype == EV_NO_ACTION
        and pcr == 0
        and size <= total - 32
        and first.startswith(_SPEC_ID_SIGNATURE)
        and digest == bytes(20)
    ):
        return slow()
    spec = _parse_spec_id(first, 32)
    alg_ids = tuple(alg for alg, _ in spec.algorithms)
    names = [_bank_name(alg) for alg in alg_ids]
    nbanks, alg_end = len(alg_ids), 3 + 2 * len(alg_ids)
    fast = struct.Struct("<III" + "".join(f"H{s}s" for _, s in spec.algorithms) + "I")
    fast_size, unpack = fast.size, fast.unpack_from
    records: list[tuple[int, tuple[bytes, ...]]] = []
    locality: int | None = None  # decided by the first PCR0 record, as startup_locality() does
    pos = 32 + size
    while pos < total:
        if total - pos < fast_size:
            return slow()
        fields = unpack(buf, pos)
        if fields[2] != nbanks or fields[3:alg_end:2] != alg_ids:
            return slow()
        pcr, etype, size = fields[0], fields[1], fields[-1]
        pos += fast_size
        if (pcr >= NUM_PCRS and etype != EV_NO_ACTION) or size > total - pos:
            return slow()
        if pcr == 0 and locality is None:
            if etype == EV_NO_ACTION and buf[pos : pos + 16] == _STARTUP_LOCALITY:
                if size != 17:
                    return slow()
                locality = buf[pos + 16]
            elif etype == EV_EFI_HCRTM_EVENT:
                locality = 4
            elif etype != EV_NO_ACTION:
                locality = 0
        if etype != EV_NO_ACTION:
            records.append((pcr, fields[4:alg_end:2]))
        pos += size
    available = [b for b in names if b in DIGEST_SIZES]
    wanted = available if banks is None else list(banks)
    for bank in wanted:
        if bank not in DIGEST_SIZES:
            raise EventLogError(-1, f"unknown PCR bank {bank!r}")
        if bank not in available:
            return slow()  # let replay() word the error exactly
    result: dict[str, dict[int, bytes]] = {}
    for bank in wanted:
        column = names.index(bank)
        algo = _HASHLIB.get(bank, bank)
        ctor = getattr(hashlib, algo, None) or (lambda d, a=algo: hashlib.new(a, d))
        pcrs = [initial_pcr(bank, i, locality or 0) for i in range(NUM_PCRS)]
        for index, digests in records:
            pcrs[index] = ctor(pcrs[index] + digests[column]).digest()
        result[bank] = dict(enumerate(pcrs))
    return result
