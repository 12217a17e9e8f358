"""Modbus register maps of the heat-meter models we support.

A map says, for each quantity, where it lives (address, 0-based as on the wire), how it is
encoded (data type and word order), and how to scale the raw number into our unit. The same
map encodes values in the lab meter and decodes them in the adapter, so both ends agree by
construction and the tests check the encoding round trip.

Maps shipped (the ``HeatMeter.model`` field names one of them):

``generic`` — holding registers 0-10, IEEE float32 with the high word first ("ABCD"):

    ====  ========  =======  =====  ==========================================
    addr  quantity  type     scale  unit / note
    ====  ========  =======  =====  ==========================================
    0     supply    float32  1      °C
    2     return    float32  1      °C
    4     flow      float32  1      m³/h, measured in the return pipe
    6     power     float32  1      kW
    8     energy    uint32   0.1    kWh; the 32-bit counter of 0.1 kWh wraps at
                                    2³² counts = 429 496 729.6 kWh
    10    status    uint16   1      bit field, see ``MeterStatus``
    ====  ========  =======  =====  ==========================================

``compact-8digit`` — a typical compact ultrasonic meter with a Modbus module: scaled integers
with the *low* word first ("CDAB") and an energy register that follows the 8-digit display,
so it wraps at 10⁸ kWh. Holding registers from 100:

    ====  ========  =======  =====  ===========================================
    addr  quantity  type     scale  unit / note
    ====  ========  =======  =====  ===========================================
    100   energy    uint32   1      kWh, wraps at 100 000 000 kWh (display)
    102   supply    int16    0.01   °C
    103   return    int16    0.01   °C
    104   flow      uint32   0.001  m³/h, return pipe
    106   power     int32    0.1    kW
    108   status    uint16   1      bit field
    ====  ========  =======  =====  ===========================================

The addresses of ``compact-8digit`` are illustrative of the genre, not copied from one vendor's
manual: check a real meter's manual and add its own map here (or build one with
:func:`register_map_from_dict`).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Literal

DataType = Literal["uint16", "int16", "uint32", "int32", "float32"]
WordOrder = Literal["big", "little"]

QUANTITIES = ("supply_c", "return_c", "flow_m3h", "power_kw", "energy_kwh")
MAX_REGISTERS_PER_READ = 125  # Modbus limit for function codes 3 and 4

_STRUCT = {"uint16": "H", "int16": "h", "uint32": "I", "int32": "i", "float32": "f"}
_RANGE = {
    "uint16": (0, 2**16 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint32": (0, 2**32 - 1),
    "int32": (-(2**31), 2**31 - 1),
}
_WIDTH = {"uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float32": 2}


class RegisterMapError(ValueError):
    """A register map that cannot work: unknown model, overlapping or missing fields."""


@dataclass(frozen=True)
class RegisterField:
    """Where one quantity lives and how it is encoded."""

    address: int
    data_type: DataType
    scale: float = 1.0
    unit: str = ""
    word_order: WordOrder = "big"

    @property
    def count(self) -> int:
        """Number of 16-bit registers the value occupies."""
        return _WIDTH[self.data_type]

    def decode(self, registers: list[int]) -> float:
        """Turn the field's registers into a value in ``unit``."""
        words = list(registers[: self.count])
        if self.word_order == "little":
            words.reverse()
        raw = struct.unpack(
            ">" + _STRUCT[self.data_type], b"".join(w.to_bytes(2, "big") for w in words)
        )[0]
        return raw * self.scale

    def encode(self, value: float, *, saturate: bool = False) -> list[int]:
        """Turn a value in ``unit`` into the field's registers (the lab meter's side).

        With ``saturate`` an integer that does not fit is clamped to the type's range, as a
        meter's display shows its limit; without it that is a :class:`RegisterMapError`.
        """
        if self.data_type == "float32":
            raw: float | int = value / self.scale
        else:
            raw = math.floor(value / self.scale + 1e-9)
            if saturate:
                low, high = _RANGE[self.data_type]
                raw = min(max(raw, low), high)
        try:
            packed = struct.pack(">" + _STRUCT[self.data_type], raw)
        except struct.error as exc:
            raise RegisterMapError(
                f"{value} {self.unit} does not fit a {self.data_type} scaled by {self.scale}"
            ) from exc
        words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]
        if self.word_order == "little":
            words.reverse()
        return words


@dataclass(frozen=True)
class RegisterMap:
    """The registers of one meter model. ``rollover_kwh`` is where the energy register wraps."""

    name: str
    fields: dict[str, RegisterField]
    rollover_kwh: float
    table: Literal["holding", "input"] = "holding"
    flow_at: Literal["return", "supply"] = "return"
    description: str = ""
    status: RegisterField | None = field(default=None)

    def __post_init__(self) -> None:
        missing = [q for q in QUANTITIES if q not in self.fields]
        if missing:
            raise RegisterMapError(f"register map {self.name!r} lacks {', '.join(missing)}")
        used: dict[int, str] = {}
        for name, f in self.all_fields().items():
            for addr in range(f.address, f.address + f.count):
                if addr in used:
                    raise RegisterMapError(
                        f"register map {self.name!r}: {name} overlaps {used[addr]} at {addr}"
                    )
                used[addr] = name
        if self.span[1] > MAX_REGISTERS_PER_READ:
            raise RegisterMapError(
                f"register map {self.name!r} spans {self.span[1]} registers, more than one read"
            )
        if self.table not in ("holding", "input"):
            raise RegisterMapError(f"register map {self.name!r}: unknown table {self.table!r}")
        if self.rollover_kwh <= 0:
            raise RegisterMapError(f"register map {self.name!r}: rollover_kwh must be positive")

    def all_fields(self) -> dict[str, RegisterField]:
        out = dict(self.fields)
        if self.status is not None:
            out["status"] = self.status
        return out

    @property
    def span(self) -> tuple[int, int]:
        """(first address, register count) covering every field, read in one request."""
        fields = self.all_fields().values()
        first = min(f.address for f in fields)
        last = max(f.address + f.count for f in fields)
        return first, last - first

    def decode(self, registers: list[int]) -> dict[str, float]:
        """Decode a block read starting at ``span[0]`` into quantities (and ``status``)."""
        first, count = self.span
        if len(registers) < count:
            raise RegisterMapError(f"expected {count} registers, got {len(registers)}")
        return {
            name: f.decode(registers[f.address - first : f.address - first + f.count])
            for name, f in self.all_fields().items()
        }

    def encode(self, values: dict[str, float], *, saturate: bool = False) -> list[int]:
        """Encode quantities into the block starting at ``span[0]`` (unused registers zero)."""
        first, count = self.span
        block = [0] * count
        for name, f in self.all_fields().items():
            if name in values:
                start = f.address - first
                block[start : start + f.count] = f.encode(values[name], saturate=saturate)
        return block


GENERIC = RegisterMap(
    name="generic",
    description="Float32 values, high word first, 0.1 kWh 32-bit energy counter.",
    fields={
        "supply_c": RegisterField(0, "float32", 1.0, "°C"),
        "return_c": RegisterField(2, "float32", 1.0, "°C"),
        "flow_m3h": RegisterField(4, "float32", 1.0, "m³/h"),
        "power_kw": RegisterField(6, "float32", 1.0, "kW"),
        "energy_kwh": RegisterField(8, "uint32", 0.1, "kWh"),
    },
    status=RegisterField(10, "uint16", 1.0, ""),
    rollover_kwh=2**32 * 0.1,
)

COMPACT_8DIGIT = RegisterMap(
    name="compact-8digit",
    description="Scaled integers, low word first, energy follows the 8-digit kWh display.",
    fields={
        "energy_kwh": RegisterField(100, "uint32", 1.0, "kWh", "little"),
        "supply_c": RegisterField(102, "int16", 0.01, "°C"),
        "return_c": RegisterField(103, "int16", 0.01, "°C"),
        "flow_m3h": RegisterField(104, "uint32", 0.001, "m³/h", "little"),
        "power_kw": RegisterField(106, "int32", 0.1, "kW", "little"),
    },
    status=RegisterField(108, "uint16", 1.0, ""),
    rollover_kwh=1e8,
)

REGISTER_MAPS: dict[str, RegisterMap] = {m.name: m for m in (GENERIC, COMPACT_8DIGIT)}


def register_map(name: str) -> RegisterMap:
    """The register map for a meter model name; :class:`RegisterMapError` if unknown."""
    try:
        return REGISTER_MAPS[name]
    except KeyError:
        known = ", ".join(sorted(REGISTER_MAPS))
        raise RegisterMapError(f"unknown meter model {name!r} (known: {known})") from None


def register_map_from_dict(data: dict) -> RegisterMap:
    """Build a map from JSON-like data (``{"name", "rollover_kwh", "fields": {...}, ...}``).

    Each field is ``{"address", "data_type", "scale", "unit", "word_order"}``; a ``status``
    field is optional. Any malformed input raises :class:`RegisterMapError`.
    """
    try:
        raw_fields = dict(data["fields"])
        status = raw_fields.pop("status", None)
        return RegisterMap(
            name=str(data["name"]),
            fields={k: _field(v) for k, v in raw_fields.items()},
            status=_field(status) if status is not None else None,
            rollover_kwh=float(data["rollover_kwh"]),
            table=data.get("table", "holding"),
            flow_at=data.get("flow_at", "return"),
            description=str(data.get("description", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RegisterMapError):
            raise
        raise RegisterMapError(f"malformed register map: {exc}") from exc


def _field(data: dict) -> RegisterField:
    data_type = data["data_type"]
    word_order = data.get("word_order", "big")
    if data_type not in _STRUCT:
        raise RegisterMapError(f"unknown data type {data_type!r}")
    if word_order not in ("big", "little"):
        raise RegisterMapError(f"unknown word order {word_order!r}")
    address = int(data["address"])
    if not 0 <= address <= 65534:
        raise RegisterMapError(f"address {address} outside 0-65534")
    return RegisterField(
        address=address,
        data_type=data_type,
        scale=float(data.get("scale", 1.0)),
        unit=str(data.get("unit", "")),
        word_order=word_order,
    )
