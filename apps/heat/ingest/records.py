"""What the ingest modules share: the rows they write, the per-meter results, time in µs."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from apps.heat.meters import MeterReading
from apps.heat.models import RejectedReading

# Columns of ``heat_reading`` in the order of :class:`RawRow`.
RAW_FIELDS = (
    "meter_id",
    "ts",
    "supply_c",
    "return_c",
    "flow_m3h",
    "power_kw",
    "energy_register_kwh",
    "energy_kwh",
    "status",
    "flags",
)
# Columns of ``heat_meterstate`` an ingest writes back.
STATE_FIELDS = (
    "status",
    "last_ts",
    "last_supply_c",
    "last_return_c",
    "last_flow_m3h",
    "last_power_kw",
    "last_energy_kwh",
    "register_baseline_kwh",
    "register_changed_at",
    "rebased",
    "last_error",
)
# Rollup columns that add up across contributions (first/last and min/max have their rules).
ROLLUP_SUMS = (
    "readings",
    "energy_kwh",
    "energy_power_kwh",
    "covered_s",
    "supply_ok_s",
    "supply_below_s",
    "supply_sum_c",
    "return_sum_c",
    "flow_sum_m3h",
    "power_sum_kw",
)


@dataclass(slots=True)
class RawRow:
    """An accepted reading on its way into ``heat_reading`` (a model instance costs 10x more)."""

    meter_id: int
    ts: datetime
    supply_c: float
    return_c: float
    flow_m3h: float
    power_kw: float
    energy_register_kwh: float
    energy_kwh: float
    status: int
    flags: int


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
US = 1_000_000
HOUR_US = 3600 * US
NO_FIRST = np.iinfo(np.int64).max  # "no reading in this contribution" for first/last
NO_LAST = np.iinfo(np.int64).min
KEY_SHIFT = 32  # rollup keys: (meter position << 32) | bucket start in epoch seconds


def to_us(ts: datetime) -> int:
    return (ts - EPOCH) // ONE_US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


@dataclass
class MeterIngest:
    """What happened to one meter's readings in one ingest call."""

    meter_id: int
    accepted: list[RawRow] = field(default_factory=list)
    rejected: list[RejectedReading] = field(default_factory=list)
    duplicates: int = 0


@dataclass
class IngestResult:
    """Outcome of :func:`ingest_readings`, per meter."""

    meters: dict[int, MeterIngest] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        return sum(len(m.accepted) for m in self.meters.values())

    @property
    def rejected(self) -> int:
        return sum(len(m.rejected) for m in self.meters.values())


class IngestError(ValueError):
    """Readings that cannot be ingested at all (unknown meter, naive timestamps)."""


@dataclass(frozen=True, slots=True)
class MeterInfo:
    """What ingestion needs of a meter and its site (a model instance costs 10x more)."""

    id: int
    serial: str
    model: str
    site_id: int
    timezone: str
    contract_min_supply_c: float

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


def read_at(reading: MeterReading) -> datetime:
    return reading.read_at
