"""Electrical energy drawn by a site's nodes: integrated per sweep, summed per local day.

`bmc_sweep_nodes` hands every answering node's previous and current power sample to
`electrical_pieces`; the pieces are summed per (site, local day) by `ElectricalSums` and merged
into ``ElectricalDaily`` by `electrical_daily_merge`.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from apps.hardware.models import ElectricalDaily


def electrical_max_gap_s() -> float:
    """Longest interval between two answers of a node still integrated (default 3 polls)."""
    configured = getattr(settings, "ELECTRICAL_MAX_GAP_S", None)
    if configured is not None:
        return float(configured)
    return 3 * float(getattr(settings, "BMC_POLL_INTERVAL", 30.0))


@dataclass(frozen=True)
class PowerSample:
    """A node's power as one sweep saw it (``watts`` None: the BMC gave no power reading)."""

    at: datetime | None
    state: str
    watts: float | None


@dataclass(frozen=True)
class EnergyPiece:
    """Energy of one node over the part of one interval inside one local day."""

    day: date
    measured_kwh: float = 0.0
    nominal_kwh: float = 0.0
    measured_s: float = 0.0
    nominal_s: float = 0.0


def _local_days(t0: datetime, t1: datetime, tz: zoneinfo.ZoneInfo):
    """Cut [t0, t1) at the local midnights of ``tz``: yields (day, piece_start, piece_end)."""
    cursor = t0
    while cursor < t1:
        local = cursor.astimezone(tz)
        nxt = datetime(local.year, local.month, local.day, tzinfo=tz) + timedelta(days=1)
        # Rebuilt from the date so a DST day ends at the next local midnight (23 or 25 h).
        nxt = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
        end = min(t1, nxt)
        yield local.date(), cursor, end
        cursor = end


def electrical_pieces(
    prev: PowerSample,
    now: PowerSample,
    *,
    nominal_w: float,
    tz: zoneinfo.ZoneInfo,
    max_gap_s: float,
) -> list[EnergyPiece]:
    """The energy a node drew between two sweeps, split at the site's local midnights.

    The state read at the interval's start holds until the next answer (as for heat). Off:
    0 W, measured. On with power known at both ends: trapezoid; at one end only: that power
    held. On without any power reading: nominal power, flagged nominal. No previous answer, an
    unknown state or an interval longer than ``max_gap_s``: a gap, nothing counted.
    """
    if prev.at is None or now.at is None:
        return []
    total = (now.at - prev.at).total_seconds()
    if total <= 0 or total > max_gap_s or prev.state not in ("on", "off"):
        return []
    nominal = False
    if prev.state == "off":
        p0 = p1 = 0.0
    elif prev.watts is not None and now.watts is not None:
        p0, p1 = prev.watts, now.watts
    elif prev.watts is not None or now.watts is not None:
        p0 = p1 = prev.watts if prev.watts is not None else now.watts  # type: ignore[assignment]
    else:
        p0 = p1 = nominal_w
        nominal = True
    pieces = []
    for day, a, b in _local_days(prev.at, now.at, tz):
        fa = (a - prev.at).total_seconds() / total
        fb = (b - prev.at).total_seconds() / total
        pa, pb = p0 + (p1 - p0) * fa, p0 + (p1 - p0) * fb
        seconds = (b - a).total_seconds()
        kwh = (pa + pb) / 2 * seconds / 3_600_000
        if nominal:
            pieces.append(EnergyPiece(day, nominal_kwh=kwh, nominal_s=seconds))
        else:
            pieces.append(EnergyPiece(day, measured_kwh=kwh, measured_s=seconds))
    return pieces


class ElectricalSums:
    """Pieces of one sweep summed per (site, local day), ready for one merge."""

    FIELDS = ("measured_kwh", "nominal_kwh", "measured_s", "nominal_s")

    def __init__(self) -> None:
        self._sums: dict[tuple[int, date], list[float]] = defaultdict(lambda: [0.0] * 4)

    def add(self, site_id: int, pieces: list[EnergyPiece]) -> None:
        for piece in pieces:
            acc = self._sums[(site_id, piece.day)]
            for i, name in enumerate(self.FIELDS):
                acc[i] += getattr(piece, name)

    def rows(self) -> list[tuple[int, date, float, float, float, float]]:
        # Sorted, so concurrent sweeps of overlapping sites lock rows in the same order.
        return [(site, day, *acc) for (site, day), acc in sorted(self._sums.items())]


def electrical_daily_merge(rows: list[tuple[int, date, float, float, float, float]]) -> None:
    """Adds (site_id, day, measured_kwh, nominal_kwh, measured_s, nominal_s) rows into
    ``ElectricalDaily``: one ``INSERT .. ON CONFLICT DO UPDATE`` per 500 rows, adding to what
    is there, so concurrent sweeps of different nodes of one site never lose each other's sums.
    Same SQL on PostgreSQL and SQLite."""
    table = ElectricalDaily._meta.db_table
    cols = "site_id, day, energy_kwh, measured_kwh, nominal_kwh, measured_s, nominal_s, covered_s"
    adds = ", ".join(
        f"{c} = {table}.{c} + excluded.{c}"
        for c in (
            "energy_kwh",
            "measured_kwh",
            "nominal_kwh",
            "measured_s",
            "nominal_s",
            "covered_s",
        )
    )
    with connection.cursor() as cursor:
        for i in range(0, len(rows), 500):
            chunk = rows[i : i + 500]
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            params: list[Any] = []
            for site_id, day, m_kwh, n_kwh, m_s, n_s in chunk:
                params += [site_id, day, m_kwh + n_kwh, m_kwh, n_kwh, m_s, n_s, m_s + n_s]
            cursor.execute(
                f"INSERT INTO {table} ({cols}) VALUES {values} "  # noqa: S608 - fixed names
                f"ON CONFLICT (site_id, day) DO UPDATE SET {adds}",
                params,
            )
