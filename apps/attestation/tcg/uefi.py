"""UEFI structures found in TCG event payloads: GUIDs, device paths, variables, load options,
signature lists, GPT and image-load events.

Decoders take the payload bytes and the payload's offset in the log (so errors point at the right
byte) and raise only :class:`EventLogError`. Builders (``efi_variable_data``, ``load_option``, ...)
produce the same byte layouts, for the event-log writer and for PCR prediction.
"""

from __future__ import annotations

import re
import struct
import uuid
import warnings
from dataclasses import dataclass, field

from .errors import EventLogError

EFI_GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFI_IMAGE_SECURITY_DATABASE = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"
SHIM_LOCK_GUID = "605dab50-e046-4300-abb6-3dd810dd8b23"

EFI_CERT_TYPES = {
    "c1c41626-504c-4092-aca9-41f936934328": "EFI_CERT_SHA256",
    "a5c059a1-94e4-4aa7-87b5-ab155c2bf072": "EFI_CERT_X509",
    "3c5766e8-269c-4e34-aa14-ed776e85b3b6": "EFI_CERT_RSA2048",
    "826ca512-cf10-4ac9-b187-be01496631bd": "EFI_CERT_SHA1",
    "0b6e5233-a65c-44c9-9407-d9ab83bfc8bd": "EFI_CERT_SHA224",
    "ff3e5307-9fd0-48c9-85f1-8ad56c701e01": "EFI_CERT_SHA384",
    "093e0fae-a6c4-4f50-9f1b-d41e2b89c19a": "EFI_CERT_SHA512",
    "3bd2a492-96c0-4079-b420-fcf98ef103ed": "EFI_CERT_X509_SHA256",
    "7076876e-80c2-4ee6-aad2-28b349a6865b": "EFI_CERT_X509_SHA384",
    "446dbf63-2502-4cda-bcfa-2465d2b0fe9d": "EFI_CERT_X509_SHA512",
}
EFI_CERT_X509 = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"
EFI_CERT_SHA256 = "c1c41626-504c-4092-aca9-41f936934328"

_SIGNATURE_DB_NAMES = {"PK", "KEK", "db", "dbx", "dbt", "dbr", "PKDefault", "KEKDefault"}
_BOOL_VARS = {"SecureBoot", "SetupMode", "AuditMode", "DeployedMode"}
_BOOT_OPTION = re.compile(r"(Boot|Driver|SysPrep|PlatformRecovery)[0-9A-Fa-f]{4}\Z")


class _Reader:
    """Bounds-checked little-endian reader over a payload; errors carry the log offset."""

    __slots__ = ("base", "buf", "end", "pos")

    def __init__(self, buf: bytes, base: int = 0, pos: int = 0, end: int | None = None) -> None:
        self.buf = buf
        self.base = base
        self.pos = pos
        self.end = len(buf) if end is None else end

    @property
    def left(self) -> int:
        return self.end - self.pos

    def fail(self, reason: str) -> EventLogError:
        return EventLogError(self.base + self.pos, reason)

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or n > self.end - self.pos:
            raise self.fail(f"truncated {what}: need {n} bytes, {self.end - self.pos} left")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return bytes(out)

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "little")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "little")

    def u64(self, what: str) -> int:
        return int.from_bytes(self.take(8, what), "little")

    def guid(self, what: str) -> str:
        return guid_str(self.take(16, what))


def guid_str(raw: bytes) -> str:
    """Render a 16-byte EFI_GUID (mixed-endian) as the usual lowercase text form."""
    return str(uuid.UUID(bytes_le=bytes(raw)))


def guid_bytes(text: str) -> bytes:
    """The 16-byte EFI_GUID encoding of a GUID string."""
    try:
        return uuid.UUID(text).bytes_le
    except ValueError as exc:
        raise EventLogError(-1, f"bad GUID {text!r}") from exc


def _utf16(raw: bytes) -> str:
    return raw.decode("utf-16-le", errors="replace")


def _utf16z(raw: bytes) -> str:
    """A UTF-16LE string, cut at its first NUL character."""
    for i in range(0, len(raw) - 1, 2):
        if raw[i] == 0 and raw[i + 1] == 0:
            return _utf16(raw[:i])
    return _utf16(raw[: len(raw) & ~1])


# ---------------------------------------------------------------------------------------------
# Device paths
# ---------------------------------------------------------------------------------------------

_BBS_TYPES = {1: "Floppy", 2: "HD", 3: "CDROM", 4: "PCMCIA", 5: "USB", 6: "Network"}


def _render_node(typ: int, sub: int, body: bytes, r: _Reader) -> str:
    """One device-path node as text (EDK2/tpm2-tools style); unknown nodes stay generic."""
    n = len(body)
    if typ == 1 and sub == 1 and n == 2:
        return f"Pci(0x{body[1]:x},0x{body[0]:x})"
    if typ == 1 and sub == 3 and n == 20:
        mem, start, end = struct.unpack("<IQQ", body)
        return f"MemoryMapped(0x{mem:x},0x{start:x},0x{end:x})"
    if typ == 1 and sub == 4 and n >= 16:
        return f"VenHw({guid_str(body[:16])})"
    if typ == 1 and sub == 5 and n == 4:
        return f"Ctrl(0x{int.from_bytes(body, 'little'):x})"
    if typ == 2 and sub == 1 and n == 8:
        hid, uid = struct.unpack("<II", body)
        if hid == 0x0A0341D0:
            return f"PciRoot(0x{uid:x})"
        if hid == 0x0A0841D0:
            return f"PcieRoot(0x{uid:x})"
        return f"Acpi(0x{hid:08x},0x{uid:x})"
    if typ == 3 and sub == 2 and n == 4:
        pun, lun = struct.unpack("<HH", body)
        return f"SCSI({pun},{lun})"
    if typ == 3 and sub == 5 and n == 2:
        return f"USB({body[0]},{body[1]})"
    if typ == 3 and sub == 11 and n == 33:
        return f"MAC({body[:6].hex()},{body[32]})"
    if typ == 3 and sub == 12 and n >= 19:
        return f"IPv4({'.'.join(map(str, body[4:8]))},{'.'.join(map(str, body[:4]))})"
    if typ == 3 and sub == 18 and n == 6:
        hba, pmp, lun = struct.unpack("<HHH", body)
        return f"Sata({hba},{pmp},{lun})"
    if typ == 3 and sub == 23 and n == 12:
        nsid = int.from_bytes(body[:4], "little")
        return f"NVMe(0x{nsid:x},{'-'.join(f'{b:02X}' for b in body[4:])})"
    if typ == 3 and sub == 10 and n >= 16:
        return f"VenMsg({guid_str(body[:16])})"
    if typ == 3 and sub == 24:
        return f"Uri({body.decode('ascii', errors='replace')})"
    if typ == 4 and sub == 1 and n == 38:
        part, start, size = struct.unpack("<IQQ", body[:20])
        fmt, sigtype = body[36], body[37]
        if sigtype == 2:
            sig = guid_str(body[20:36])
        elif sigtype == 1:
            sig = f"0x{int.from_bytes(body[20:24], 'little'):x}"
        else:
            sig = "0"
        kind = {1: "MBR", 2: "GPT"}.get(fmt, str(fmt))
        return f"HD({part},{kind},{sig},0x{start:x},0x{size:x})"
    if typ == 4 and sub == 2 and n == 20:
        entry, start, size = struct.unpack("<IQQ", body)
        return f"CDROM(0x{entry:x},0x{start:x},0x{size:x})"
    if typ == 4 and sub == 3 and n >= 16:
        return f"VenMedia({guid_str(body[:16])})"
    if typ == 4 and sub == 4:
        return f"File({_utf16z(body)})"
    if typ == 4 and sub == 6 and n == 16:
        return f"FvFile({guid_str(body)})"
    if typ == 4 and sub == 7 and n == 16:
        return f"FvVol({guid_str(body)})"
    if typ == 4 and sub == 8 and n == 20:
        _, start, end = struct.unpack("<IQQ", body)
        return f"Offset(0x{start:x},0x{end:x})"
    if typ == 5 and sub == 1 and n >= 4:
        dev, status = struct.unpack("<HH", body[:4])
        desc = body[4:].split(b"\0", 1)[0].decode("ascii", errors="replace")
        return f"BBS({_BBS_TYPES.get(dev, f'0x{dev:x}')},{desc},0x{status:x})"
    return f"Path({typ},{sub},{body.hex()})"


def render_device_path(raw: bytes, base: int = 0) -> str:
    """Render an EFI device path (possibly several instances) as text.

    ``PciRoot(0x0)/Pci(0x2,0x0)/Pci(0x0,0x0)/Offset(0x12600,0x3c3ff)``; instances are separated
    by ``/`` like tpm2-tools does. Raises EventLogError on a node that overruns the buffer.
    """
    r = _Reader(raw, base)
    parts: list[str] = []
    while r.left > 0:
        typ = r.u8("device path node type")
        sub = r.u8("device path node subtype")
        length = r.u16("device path node length")
        if length < 4:
            r.pos -= 2
            raise r.fail(f"device path node length {length} is below the 4-byte header")
        body = r.take(length - 4, "device path node")
        if typ == 0x7F:
            if sub == 0xFF:
                break
            continue
        parts.append(_render_node(typ, sub, body, r))
    return "/".join(parts)


def device_path_node(typ: int, sub: int, body: bytes) -> bytes:
    """Encode one device-path node."""
    return struct.pack("<BBH", typ, sub, len(body) + 4) + body


DEVICE_PATH_END = device_path_node(0x7F, 0xFF, b"")


def pci_root(uid: int = 0) -> bytes:
    """ACPI PciRoot(uid) node."""
    return device_path_node(2, 1, struct.pack("<II", 0x0A0341D0, uid))


def pci(device: int, function: int = 0) -> bytes:
    """Pci(device,function) node."""
    return device_path_node(1, 1, bytes([function, device]))


def rom_offset(start: int, end: int) -> bytes:
    """Offset(start,end) node: an image inside a PCI option ROM (end inclusive)."""
    return device_path_node(4, 8, struct.pack("<IQQ", 0, start, end))


def hard_drive(partition: int, start_lba: int, size_lba: int, partition_guid: str) -> bytes:
    """HD(n,GPT,guid,start,size) node."""
    body = struct.pack("<IQQ", partition, start_lba, size_lba) + guid_bytes(partition_guid)
    return device_path_node(4, 1, body + bytes([2, 2]))


def file_path(path: str) -> bytes:
    """File(path) node (UTF-16, NUL-terminated)."""
    return device_path_node(4, 4, (path + "\0").encode("utf-16-le"))


def device_path(*nodes: bytes) -> bytes:
    """Concatenate nodes and terminate the path."""
    return b"".join(nodes) + DEVICE_PATH_END


# ---------------------------------------------------------------------------------------------
# Decoded payload types
# ---------------------------------------------------------------------------------------------


@dataclass
class Payload:
    """Base of decoded payloads; ``summary()`` is the one-line text for listings."""

    def summary(self) -> str:
        return ""


@dataclass
class Undecoded(Payload):
    """The payload could not be decoded (the event itself is still valid and replayable)."""

    reason: str

    def summary(self) -> str:
        return f"<undecodable payload: {self.reason}>"


@dataclass
class Raw(Payload):
    """A payload with no known structure."""

    data: bytes

    def summary(self) -> str:
        head = self.data[:32].hex()
        return f"{len(self.data)} bytes {head}{'...' if len(self.data) > 32 else ''}"


@dataclass
class Text(Payload):
    """A string payload: EV_EFI_ACTION, EV_ACTION, EV_IPL, EV_POST_CODE, EV_S_CRTM_VERSION."""

    text: str

    def summary(self) -> str:
        return repr(self.text)


@dataclass
class Separator(Payload):
    """EV_SEPARATOR: 0 for a normal separator, 1 (or 0xFFFFFFFF) for an error separator."""

    value: int

    def summary(self) -> str:
        return f"separator 0x{self.value:08x}"


@dataclass
class SpecIdEvent(Payload):
    """The TCG_EfiSpecIDEvent header of a crypto-agile log."""

    platform_class: int
    version: tuple[int, int, int]
    uintn_size: int
    algorithms: list[tuple[int, int]]
    vendor_info: bytes

    def summary(self) -> str:
        algs = ", ".join(f"0x{alg:04x}/{size}" for alg, size in self.algorithms)
        return f"Spec ID Event03 v{self.version[0]}.{self.version[1]} algorithms {algs}"


@dataclass
class StartupLocality(Payload):
    """EV_NO_ACTION "StartupLocality": the locality the TPM was started from (PCR0 init)."""

    locality: int

    def summary(self) -> str:
        return f"StartupLocality {self.locality}"


@dataclass
class NoAction(Payload):
    """Another EV_NO_ACTION payload (SP800-155 event, NV index instance, ...)."""

    signature: str
    data: bytes

    def summary(self) -> str:
        return f"{self.signature} ({len(self.data)} bytes)"


@dataclass
class FirmwareBlob(Payload):
    """UEFI_PLATFORM_FIRMWARE_BLOB(2): a measured memory region."""

    base: int
    length: int
    description: str | None = None

    def summary(self) -> str:
        desc = f"{self.description} " if self.description else ""
        return f"{desc}base 0x{self.base:x} length 0x{self.length:x}"


@dataclass
class HandoffTables(Payload):
    """UEFI_HANDOFF_TABLE_POINTERS: configuration tables (GUID, address)."""

    tables: list[tuple[str, int]]

    def summary(self) -> str:
        return ", ".join(f"{guid}@0x{addr:x}" for guid, addr in self.tables)


@dataclass
class LoadOption(Payload):
    """EFI_LOAD_OPTION (Boot####): attributes, description, device path, optional data."""

    attributes: int
    description: str
    device_path: str
    optional_data: bytes

    def summary(self) -> str:
        return f"{self.description!r} {self.device_path}"


@dataclass
class SignatureData:
    """EFI_SIGNATURE_DATA: owner GUID and the signature (a certificate or a hash)."""

    owner: str
    data: bytes

    def describe(self, type_guid: str = EFI_CERT_X509) -> str:
        if type_guid == EFI_CERT_X509:
            return x509_subject(self.data)
        return self.data.hex()


@dataclass
class SignatureList:
    """EFI_SIGNATURE_LIST: a type (EFI_CERT_X509, EFI_CERT_SHA256, ...) and its signatures."""

    type_guid: str
    header: bytes
    signatures: list[SignatureData]

    @property
    def type_name(self) -> str:
        return EFI_CERT_TYPES.get(self.type_guid, self.type_guid)


@dataclass
class UefiVariable(Payload):
    """UEFI_VARIABLE_DATA with its value decoded when the variable is known.

    ``value`` is a LoadOption (Boot####), list[int] (BootOrder), bool (SecureBoot and other
    mode flags), list[SignatureList] (PK/KEK/db/dbx), SignatureData (an authority), or None.
    """

    guid: str
    name: str
    data: bytes
    value: object = None

    def summary(self) -> str:
        v = self.value
        if isinstance(v, LoadOption):
            shown = v.summary()
        elif isinstance(v, list) and all(isinstance(x, int) for x in v):
            shown = ",".join(f"Boot{x:04X}" for x in v) if self.name == "BootOrder" else str(v)
        elif isinstance(v, bool):
            shown = "enabled" if v else "disabled"
        elif isinstance(v, list):
            count = sum(len(s.signatures) for s in v)
            kinds = sorted({s.type_name for s in v})
            shown = f"{len(v)} lists, {count} signatures ({', '.join(kinds) or 'empty'})"
        elif isinstance(v, SignatureData):
            shown = f"owner {v.owner}: {x509_subject(v.data)}"
        else:
            shown = f"{len(self.data)} bytes"
        return f"{self.name} = {shown}"


@dataclass
class ImageLoad(Payload):
    """UEFI_IMAGE_LOAD_EVENT: where a PE image was loaded from (digest = Authenticode)."""

    location: int
    length: int
    link_time_address: int
    device_path: str

    def summary(self) -> str:
        return f"{self.device_path or '<no device path>'} (length 0x{self.length:x})"


@dataclass
class GptPartition:
    """One non-empty GPT partition entry."""

    type_guid: str
    unique_guid: str
    first_lba: int
    last_lba: int
    attributes: int
    name: str


@dataclass
class GptData(Payload):
    """UEFI_GPT_DATA: the GPT header and its non-empty partition entries."""

    disk_guid: str
    header: bytes
    partitions: list[GptPartition] = field(default_factory=list)

    def summary(self) -> str:
        names = ", ".join(p.name or p.unique_guid for p in self.partitions)
        return f"disk {self.disk_guid}, {len(self.partitions)} partitions ({names})"


def x509_subject(der: bytes) -> str:
    """Best-effort subject of a DER certificate, for display only."""
    from cryptography import x509  # local: display-only, keeps parser import light
    from cryptography.utils import CryptographyDeprecationWarning

    try:
        with warnings.catch_warnings():
            # Real db certificates (e.g. negative serials) trip cryptography's strictness
            # warnings; showing their subject is still right.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            warnings.simplefilter("ignore", UserWarning)
            return x509.load_der_x509_certificate(der).subject.rfc4514_string()
    except ValueError:
        return f"{len(der)} bytes"


# ---------------------------------------------------------------------------------------------
# Decoders
# ---------------------------------------------------------------------------------------------


def decode_variable(data: bytes, base: int = 0, authority: bool = False) -> UefiVariable:
    """Decode UEFI_VARIABLE_DATA and, for known variables, its value."""
    r = _Reader(data, base)
    guid = r.guid("variable GUID")
    name_len = r.u64("variable name length")
    data_len = r.u64("variable data length")
    if name_len > r.left // 2:
        raise r.fail(f"variable name length {name_len} exceeds the payload")
    name = _utf16(r.take(name_len * 2, "variable name")).rstrip("\0")
    value_off = r.pos
    # Trailing bytes after the value are tolerated: real firmware (and shim) emit them.
    value = r.take(data_len, "variable data")
    var = UefiVariable(guid=guid, name=name, data=value)
    var.value = decode_variable_value(name, guid, value, base + value_off, authority)
    return var


def decode_variable_value(
    name: str, guid: str, value: bytes, base: int = 0, authority: bool = False
) -> object:
    """Decode a variable's value by its name; None when the variable is not a known one."""
    if authority:
        if len(value) >= 16 and name in _SIGNATURE_DB_NAMES:
            return SignatureData(owner=guid_str(value[:16]), data=value[16:])
        return None
    if name == "BootOrder" or name == "DriverOrder":
        if len(value) % 2:
            raise EventLogError(base, f"{name} has an odd length {len(value)}")
        return [int.from_bytes(value[i : i + 2], "little") for i in range(0, len(value), 2)]
    if name in ("BootNext", "BootCurrent") and len(value) == 2:
        return [int.from_bytes(value, "little")]
    if name in _BOOL_VARS:
        if not value:
            return None  # an absent variable is measured with empty data
        if len(value) != 1:
            raise EventLogError(base, f"{name} should hold 1 byte, not {len(value)}")
        return bool(value[0])
    if _BOOT_OPTION.match(name):
        return decode_load_option(value, base)
    if name in _SIGNATURE_DB_NAMES:
        return decode_signature_lists(value, base)
    return None


def decode_load_option(data: bytes, base: int = 0) -> LoadOption:
    """Decode an EFI_LOAD_OPTION."""
    r = _Reader(data, base)
    attributes = r.u32("load option attributes")
    path_len = r.u16("load option device path length")
    start = r.pos
    while True:
        if r.left < 2:
            raise r.fail("load option description is not NUL-terminated")
        if r.buf[r.pos] == 0 and r.buf[r.pos + 1] == 0:
            break
        r.pos += 2
    description = _utf16(data[start : r.pos])
    r.pos += 2
    path_off = base + r.pos
    path = render_device_path(r.take(path_len, "load option device path"), path_off)
    return LoadOption(attributes, description, path, r.take(r.left, "optional data"))


def decode_signature_lists(data: bytes, base: int = 0) -> list[SignatureList]:
    """Decode a sequence of EFI_SIGNATURE_LIST (the value of PK, KEK, db, dbx)."""
    r = _Reader(data, base)
    lists: list[SignatureList] = []
    while r.left:
        start = r.pos
        type_guid = r.guid("signature list type")
        list_size = r.u32("signature list size")
        header_size = r.u32("signature header size")
        sig_size = r.u32("signature size")
        if list_size < 28 or list_size - 28 > r.left:
            r.pos = start + 16
            raise r.fail(f"signature list size {list_size} does not fit the payload")
        end = start + list_size
        if header_size > end - r.pos:
            raise r.fail(f"signature header size {header_size} exceeds the list")
        header = r.take(header_size, "signature header")
        body = end - r.pos
        if sig_size < 16 or body % sig_size:
            raise r.fail(f"signature size {sig_size} does not divide the list body {body}")
        sigs = []
        for _ in range(body // sig_size):
            owner = r.guid("signature owner")
            sigs.append(SignatureData(owner, r.take(sig_size - 16, "signature data")))
        lists.append(SignatureList(type_guid, header, sigs))
    return lists


def decode_image_load(data: bytes, base: int = 0) -> ImageLoad:
    """Decode a UEFI_IMAGE_LOAD_EVENT."""
    r = _Reader(data, base)
    location = r.u64("image location")
    length = r.u64("image length")
    link = r.u64("image link-time address")
    path_len = r.u64("device path length")
    path_off = base + r.pos
    # Some firmware pads the event after the device path; the padding carries nothing.
    path = render_device_path(r.take(path_len, "image device path"), path_off)
    return ImageLoad(location, length, link, path)


def decode_gpt(data: bytes, base: int = 0) -> GptData:
    """Decode UEFI_GPT_DATA (header, partition count, partition entries)."""
    r = _Reader(data, base)
    if r.left < 92:
        raise r.fail(f"truncated GPT header: {r.left} bytes")
    if data[:8] != b"EFI PART":
        raise r.fail("GPT header signature is not 'EFI PART'")
    header_size = int.from_bytes(data[12:16], "little")
    if header_size < 92:
        raise EventLogError(base + 12, f"GPT header size {header_size} is below 92")
    header = r.take(header_size, "GPT header")
    disk_guid = guid_str(header[56:72])
    entry_size = int.from_bytes(header[84:88], "little")
    count = r.u64("GPT partition count")
    if entry_size < 128:
        raise EventLogError(base + 84, f"GPT entry size {entry_size} is below 128")
    if count > r.left // entry_size:
        raise r.fail(f"{count} GPT entries of {entry_size} bytes exceed the payload")
    parts = []
    for _ in range(count):
        entry = r.take(entry_size, "GPT entry")
        first, last, attrs = struct.unpack_from("<QQQ", entry, 32)
        parts.append(
            GptPartition(
                type_guid=guid_str(entry[:16]),
                unique_guid=guid_str(entry[16:32]),
                first_lba=first,
                last_lba=last,
                attributes=attrs,
                name=_utf16z(entry[56:128]),
            )
        )
    if r.left:
        raise r.fail(f"{r.left} trailing bytes after GPT entries")
    return GptData(disk_guid=disk_guid, header=header, partitions=parts)


def decode_firmware_blob(data: bytes, base: int = 0, v2: bool = False) -> FirmwareBlob:
    """Decode UEFI_PLATFORM_FIRMWARE_BLOB, or BLOB2 (with a description) when ``v2``."""
    r = _Reader(data, base)
    desc = None
    if v2:
        desc = r.take(r.u8("blob description size"), "blob description")
        desc = desc.rstrip(b"\0").decode("ascii", errors="replace")
    blob = FirmwareBlob(r.u64("blob base"), r.u64("blob length"), desc)
    if r.left:
        raise r.fail(f"{r.left} trailing bytes after firmware blob")
    return blob


def decode_handoff_tables(data: bytes, base: int = 0) -> HandoffTables:
    """Decode UEFI_HANDOFF_TABLE_POINTERS."""
    r = _Reader(data, base)
    count = r.u64("table count")
    if count > r.left // 24:
        raise r.fail(f"{count} handoff tables exceed the payload")
    tables = [(r.guid("table GUID"), r.u64("table address")) for _ in range(count)]
    return HandoffTables(tables)


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def efi_variable_data(guid: str, name: str, value: bytes) -> bytes:
    """Build UEFI_VARIABLE_DATA (as measured for EV_EFI_VARIABLE_* events)."""
    encoded = name.encode("utf-16-le")
    return guid_bytes(guid) + struct.pack("<QQ", len(name), len(value)) + encoded + bytes(value)


def load_option(
    description: str, device_path_bytes: bytes, attributes: int = 1, optional_data: bytes = b""
) -> bytes:
    """Build an EFI_LOAD_OPTION (the value of a Boot#### variable)."""
    return (
        struct.pack("<IH", attributes, len(device_path_bytes))
        + (description + "\0").encode("utf-16-le")
        + device_path_bytes
        + optional_data
    )


def boot_order(entries: list[int]) -> bytes:
    """Build a BootOrder value."""
    return b"".join(struct.pack("<H", e) for e in entries)


def image_load_event(
    device_path_bytes: bytes, length: int = 0, location: int = 0, link_time_address: int = 0
) -> bytes:
    """Build a UEFI_IMAGE_LOAD_EVENT payload."""
    return struct.pack("<QQQQ", location, length, link_time_address, len(device_path_bytes)) + (
        device_path_bytes
    )


def firmware_blob(base: int, length: int) -> bytes:
    """Build a UEFI_PLATFORM_FIRMWARE_BLOB payload."""
    return struct.pack("<QQ", base, length)
