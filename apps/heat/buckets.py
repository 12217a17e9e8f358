"""Time buckets of the heat rollups and the sums kept per bucket.

Hourly buckets are UTC hours; daily buckets are the site's local days (23 or 25 h on DST days).
A covered interval between two readings no further apart than :func:`max_gap_s` is split at
bucket edges by :func:`interval_pieces`; :class:`Sums` holds what a bucket adds up. Ingestion
(``apps.heat.ingest``) and the reads (``selectors``, ``alarms``, ``live``) share these rules.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from .ingest.records import RawRow


def max_gap_s() -> float:
    """Longest interval between two readings still counted as covered (default 3 polls)."""
    default = 3 * float(getattr(settings, "METER_POLL_INTERVAL", 10.0))
    return float(getattr(settings, "HEAT_MAX_GAP_S", default))


def hour_bucket(ts: datetime) -> tuple[datetime, datetime]:
    """The UTC hour containing ``ts``: (start, end)."""
    start = ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return start, start + timedelta(hours=1)


def day_bucket(ts: datetime, tz: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
    """The site-local day containing ``ts`` as UTC instants (23 or 25 h long on DST days)."""
    local = ts.astimezone(tz)
    start = datetime(local.year, local.month, local.day, tzinfo=tz)
    end = start + timedelta(days=1)  # wall-clock arithmetic: next local midnight
    end = datetime(end.year, end.month, end.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def split_interval(
    t0: datetime, t1: datetime, bucket: Callable[[datetime], tuple[datetime, datetime]]
) -> Iterable[tuple[datetime, datetime, datetime]]:
    """Cut [t0, t1) at bucket edges: yields (bucket_start, piece_start, piece_end)."""
    cursor = t0
    while cursor < t1:
        start, end = bucket(cursor)
        piece_end = min(end, t1)
        yield start, cursor, piece_end
        cursor = piece_end


@dataclass
class Sums:
    """Additive aggregates of one meter over one bucket (or any period)."""

    readings: int = 0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    register_first_kwh: float | None = None
    register_last_kwh: float | None = None
    cumulative_first_kwh: float | None = None
    cumulative_last_kwh: float | None = None
    energy_kwh: float = 0.0
    energy_power_kwh: float = 0.0
    covered_s: float = 0.0
    supply_ok_s: float = 0.0
    supply_below_s: float = 0.0
    supply_min_c: float | None = None
    supply_max_c: float | None = None
    supply_sum_c: float = 0.0
    return_sum_c: float = 0.0
    flow_sum_m3h: float = 0.0
    power_sum_kw: float = 0.0

    def add_reading(self, row: RawRow, delta_kwh: float) -> None:
        self.readings += 1
        if self.first_ts is None or row.ts < self.first_ts:
            self.first_ts = row.ts
            self.register_first_kwh = row.energy_register_kwh
            self.cumulative_first_kwh = row.energy_kwh
        if self.last_ts is None or row.ts >= self.last_ts:
            self.last_ts = row.ts
            self.register_last_kwh = row.energy_register_kwh
            self.cumulative_last_kwh = row.energy_kwh
        self.energy_kwh += delta_kwh
        self.supply_min_c = (
            row.supply_c if self.supply_min_c is None else min(self.supply_min_c, row.supply_c)
        )
        self.supply_max_c = (
            row.supply_c if self.supply_max_c is None else max(self.supply_max_c, row.supply_c)
        )
        self.supply_sum_c += row.supply_c
        self.return_sum_c += row.return_c
        self.flow_sum_m3h += row.flow_m3h
        self.power_sum_kw += row.power_kw

    def add_piece(self, seconds: float, power_kwh: float, supply_ok: bool) -> None:
        self.covered_s += seconds
        self.energy_power_kwh += power_kwh
        if supply_ok:
            self.supply_ok_s += seconds
        else:
            self.supply_below_s += seconds


def interval_pieces(
    t0: datetime,
    p0: float,
    t1: datetime,
    p1: float,
    bucket: Callable[[datetime], tuple[datetime, datetime]],
) -> Iterable[tuple[datetime, float, float]]:
    """Split the covered interval (t0, t1] into buckets: (bucket_start, seconds, kWh).

    Power is taken as linear between the two readings (trapezoid rule), so the pieces add up
    exactly to the trapezoid over the whole interval.
    """
    total = (t1 - t0).total_seconds()
    for start, a, b in split_interval(t0, t1, bucket):
        fa = (a - t0).total_seconds() / total
        fb = (b - t0).total_seconds() / total
        pa, pb = p0 + (p1 - p0) * fa, p0 + (p1 - p0) * fb
        seconds = (b - a).total_seconds()
        yield start, seconds, (pa + pb) / 2 * seconds / 3600
