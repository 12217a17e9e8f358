"""Byte layouts a lab BMC serves: SDR full sensor records and FRU inventory areas (IPMI 2.0).

Pure functions, no I/O. Sensor values use the linear formula y = (M*x + B) * 10**R of the spec,
so any client (pyghmi, ipmitool) decodes them the same way.
"""

from __future__ import annotations

import dataclasses
import math
import struct

# IPMI unit codes (table 43-15) and sensor type codes (table 42-3)
UNIT_DEGREES_C = 1
UNIT_VOLTS = 4
UNIT_WATTS = 6
UNIT_RPM = 18
TYPE_TEMPERATURE = 0x01
TYPE_VOLTAGE = 0x02
TYPE_FAN = 0x04
TYPE_OTHER_UNITS = 0x0B

# threshold bits in Get Sensor Reading byte 3 and in the readable-threshold mask
LNC, LC, LNR, UNC, UC, UNR = (1 << i for i in range(6))


@dataclasses.dataclass(frozen=True)
class SensorSpec:
    """A threshold sensor: SDR identity, linear conversion, thresholds (engineering units)."""

    number: int
    name: str
    sensor_type: int
    unit: int
    entity: int
    m: int = 1
    r_exp: int = 0
    lower_critical: float | None = None
    lower_non_critical: float | None = None
    upper_non_critical: float | None = None
    upper_critical: float | None = None

    def to_raw(self, value: float) -> int:
        """Engineering value -> 8-bit reading (clamped)."""
        raw = round(value / (10**self.r_exp) / self.m)
        return max(0, min(255, raw))

    def to_value(self, raw: int) -> float:
        """8-bit reading -> engineering value (what a client computes)."""
        return raw * self.m * (10**self.r_exp)

    @property
    def threshold_mask(self) -> int:
        mask = 0
        for bit, value in (
            (LNC, self.lower_non_critical),
            (LC, self.lower_critical),
            (UNC, self.upper_non_critical),
            (UC, self.upper_critical),
        ):
            if value is not None:
                mask |= bit
        return mask

    def thresholds_raw(self) -> list[int]:
        """LNC, LC, LNR, UNC, UC, UNR as raw bytes (0 where absent)."""

        def raw(value: float | None) -> int:
            return 0 if value is None else self.to_raw(value)

        return [
            raw(self.lower_non_critical),
            raw(self.lower_critical),
            0,
            raw(self.upper_non_critical),
            raw(self.upper_critical),
            0,
        ]

    def status_bits(self, raw: int) -> int:
        """Threshold comparison status for a reading, as Get Sensor Reading byte 3 reports it."""
        bits = 0
        lnc, lc, _, unc, uc, _ = self.thresholds_raw()
        mask = self.threshold_mask
        if mask & LNC and raw <= lnc:
            bits |= LNC
        if mask & LC and raw <= lc:
            bits |= LC
        if mask & UNC and raw >= unc:
            bits |= UNC
        if mask & UC and raw >= uc:
            bits |= UC
        return bits


def full_sensor_record(record_id: int, spec: SensorSpec) -> bytes:
    """SDR type 01h (full sensor record, table 43-1) for a linear threshold sensor."""
    name = spec.name.encode("ascii")[:16]
    r4 = spec.r_exp & 0x0F
    mask = spec.threshold_mask
    lnc, lc, lnr, unc, uc, unr = spec.thresholds_raw()
    body = bytes(
        [
            0x20,  # owner: the BMC
            0x00,  # owner LUN
            spec.number,
            spec.entity,
            0x01,  # entity instance
            0x7F,  # initialisation: scanning and events enabled
            0x44,  # capabilities: auto re-arm, thresholds readable
            spec.sensor_type,
            0x01,  # event/reading type: threshold
            0x00,
            0x00,  # assertion mask
            0x00,
            0x00,  # deassertion mask
            mask,  # readable thresholds
            mask,  # settable thresholds (nothing is settable in fact)
            0x00,  # unsigned analog readings, no rate, no modifier
            spec.unit,
            0x00,  # modifier unit
            0x00,  # linear
            spec.m & 0xFF,
            (spec.m >> 8 & 0x03) << 6,  # M high bits, tolerance 0
            0x00,  # B = 0
            0x00,
            0x00,
            (r4 << 4) | 0x00,  # R exponent, B exponent 0
            0x00,  # no nominal/normal values
            0x00,
            0x00,
            0x00,
            0xFF,  # sensor maximum
            0x00,  # sensor minimum
            unr,
            uc,
            unc,
            lnr,
            lc,
            lnc,
            0x00,  # hysteresis
            0x00,
            0x00,
            0x00,
            0x00,  # OEM
            0xC0 | len(name),  # 8-bit ASCII id string
        ]
    )
    body += name
    return struct.pack("<HBBB", record_id, 0x51, 0x01, len(body)) + body


def _area(fields: list[bytes], prefix: bytes) -> bytes:
    data = bytearray(prefix)
    for field in fields:
        data.append(0xC0 | len(field))
        data += field
    data.append(0xC1)  # end of fields
    # area = header + data + pad + checksum, a multiple of 8 bytes
    total = math.ceil((len(data) + 1) / 8) * 8
    data += b"\x00" * (total - len(data) - 1)
    data[1] = total // 8
    data.append((-sum(data)) & 0xFF)
    return bytes(data)


def fru_image(
    *,
    manufacturer: str,
    product: str,
    serial: str,
    part_number: str,
    board_serial: str,
    chassis_serial: str,
    version: str,
) -> bytes:
    """A FRU 0 image (platform management FRU spec 1.0): chassis, board and product areas."""

    def enc(text: str) -> bytes:
        return text.encode("ascii")[:63]

    chassis = _area([enc(part_number), enc(chassis_serial)], bytes([1, 0, 0x17]))
    minutes_since_1996 = 15_000_000
    board = _area(
        [enc(manufacturer), enc(product + " board"), enc(board_serial), enc(part_number), b""],
        bytes([1, 0, 0]) + minutes_since_1996.to_bytes(3, "little"),
    )
    prod = _area(
        [
            enc(manufacturer),
            enc(product),
            enc(part_number),
            enc(version),
            enc(serial),
            b"",
            b"",
        ],
        bytes([1, 0, 0]),
    )
    offset = 1  # in 8-byte units, after the common header
    header = bytearray([1, 0, offset, offset + len(chassis) // 8])
    header += bytes([offset + (len(chassis) + len(board)) // 8, 0, 0])
    header.append((-sum(header)) & 0xFF)
    return bytes(header) + chassis + board + prod
