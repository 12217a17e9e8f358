"""The heat-meter port: what every meter adapter returns and raises.

Drivers never import models: they take plain settings (host, port, unit id, register map) and
return a :class:`MeterReading`. Errors are :class:`MeterError` with a ``transient`` flag, like
the BMC port: a refused connection or a timeout is worth retrying on the next poll, a register
map that does not fit the meter is not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class MeterStatus(enum.IntFlag):
    """Status bits a meter reports (bit values of our generic status register)."""

    OK = 0
    SENSOR_FAULT = 1  # temperature sensor open or short
    FLOW_FAULT = 2  # no signal from the flow sensor
    LOW_BATTERY = 4
    TAMPER = 8  # seal broken / configuration changed
    REVERSE_FLOW = 16

    @classmethod
    def names(cls, value: int) -> list[str]:
        """Lower-case names of the bits set in ``value``, unknown bits as ``bit<n>``."""
        out = [flag.name.lower() for flag in cls if flag.value and value & flag.value]
        known = sum(flag.value for flag in cls)
        for bit in range(16):
            if value & ~known & (1 << bit):
                out.append(f"bit{bit}")
        return out


@dataclass(frozen=True)
class MeterReading:
    """One reading as the meter reports it, in SI-ish units, before any validation.

    ``energy_kwh`` is the meter's cumulative energy register converted to kWh, *raw*: it wraps
    to zero at the register map's ``rollover_kwh``. Making it monotonic is the storage's job.
    """

    supply_c: float
    return_c: float
    flow_m3h: float
    power_kw: float
    energy_kwh: float
    read_at: datetime
    status: int = 0

    @property
    def status_names(self) -> list[str]:
        return MeterStatus.names(self.status)


@dataclass
class MeterError(Exception):
    """Reading a meter failed. ``cause`` is a short machine-readable reason."""

    cause: str
    transient: bool
    detail: str = field(default="")

    def __str__(self) -> str:
        return f"{self.cause}: {self.detail}" if self.detail else self.cause


class HeatMeterDriver(Protocol):
    """Port every heat-meter adapter implements."""

    def read(self) -> MeterReading:
        """Read all values in one go; raise :class:`MeterError` on any failure."""
        ...

    def close(self) -> None:
        """Release the connection (idempotent)."""
        ...
