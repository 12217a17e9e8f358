"""What one ingest call writes, gathered so each table gets one COPY or statement.

Both paths add to a :class:`Batch`: raw rows, rejections, touched meter states and, per rollup
level, contributions that :meth:`Level.grouped` reduces per (meter, bucket) with the rules of
``buckets.Sums`` and of the SQL merge in ``writers``.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.db import connection

from apps.heat.buckets import Sums, day_bucket, hour_bucket, interval_pieces
from apps.heat.models import DailyRollup, HourlyRollup, RejectedReading

from .records import (
    EPOCH,
    HOUR_US,
    KEY_SHIFT,
    NO_FIRST,
    NO_LAST,
    ONE_US,
    ROLLUP_SUMS,
    STATE_FIELDS,
    US,
    MeterInfo,
    from_us,
    to_us,
)
from .writers import copy_rows, insert_raw, merge_rollups, update_states


class Level:
    """Per-bucket contributions of one rollup level (hourly or daily) for one batch.

    Contributions (one per reading, per piece of interval, or per pre-summed bucket from the
    per-reading path) are arrays; :meth:`grouped` reduces them per (meter, bucket) with the
    same rules as :class:`Sums` and the SQL merge.
    """

    SUMS = ROLLUP_SUMS
    FIRST = ("first_us", "register_first_kwh", "cumulative_first_kwh")
    LAST = ("last_us", "register_last_kwh", "cumulative_last_kwh")
    COLUMNS = (*SUMS, *FIRST, *LAST, "supply_min_c", "supply_max_c")
    DEFAULTS = {"first_us": NO_FIRST, "last_us": NO_LAST, "supply_min_c": np.inf,
                "supply_max_c": -np.inf}  # fmt: skip

    def __init__(self, model: type[HourlyRollup] | type[DailyRollup], daily: bool) -> None:
        self.model = model
        self.daily = daily
        self.keys: list[np.ndarray] = []
        self.parts: list[dict[str, np.ndarray]] = []
        self.edges: list[np.ndarray] = []  # per tz index, local midnights in µs (daily)

    def bucket(self, us: np.ndarray, tz_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(start, end) in µs of the bucket containing each instant."""
        if not self.daily:
            start = (us // HOUR_US) * HOUR_US
            return start, start + HOUR_US
        start = np.empty_like(us)
        end = np.empty_like(us)
        for i, edges in enumerate(self.edges):
            mask = tz_index == i
            if not mask.any():
                continue
            at = np.searchsorted(edges, us[mask], side="right") - 1
            start[mask], end[mask] = edges[at], edges[at + 1]
        return start, end

    def add(self, key: np.ndarray, **columns: np.ndarray) -> None:
        n = len(key)
        if not n:
            return
        part = {}
        for c in self.COLUMNS:
            value = columns.get(c)
            if value is None:
                dtype = np.int64 if c.endswith("_us") else float
                value = np.full(n, self.DEFAULTS.get(c, 0), dtype)
            part[c] = value
        self.keys.append(key)
        self.parts.append(part)

    def add_readings(self, *, key: np.ndarray, ts: np.ndarray, register: np.ndarray,
                     cumulative: np.ndarray, energy: np.ndarray, supply: np.ndarray,
                     ret: np.ndarray, flow: np.ndarray, power: np.ndarray) -> None:  # fmt: skip
        self.add(
            key,
            readings=np.ones(len(key)),
            energy_kwh=energy,
            supply_sum_c=supply,
            return_sum_c=ret,
            flow_sum_m3h=flow,
            power_sum_kw=power,
            first_us=ts,
            register_first_kwh=register,
            cumulative_first_kwh=cumulative,
            last_us=ts,
            register_last_kwh=register,
            cumulative_last_kwh=cumulative,
            supply_min_c=supply,
            supply_max_c=supply,
        )

    def add_intervals(self, batch: Batch, *, pos: np.ndarray, t0: np.ndarray, t1: np.ndarray,
                      p0: np.ndarray, p1: np.ndarray, supply_ok: np.ndarray,
                      tz_index: np.ndarray) -> None:  # fmt: skip
        """Covered intervals (t0, t1], split at bucket edges exactly as :func:`interval_pieces`
        does (same arithmetic); the rare interval spanning more than two buckets goes through
        :func:`interval_pieces` itself."""
        if not len(t0):
            return
        start0, end0 = self.bucket(t0, tz_index)
        _, end1 = self.bucket(end0, tz_index)
        one = t1 <= end0
        two = ~one & (t1 <= end1)
        total = (t1 - t0) / US
        for mask, b_from, b_to, bucket_start in (
            (one, t0, t1, start0),
            (two, t0, end0, start0),
            (two, end0, t1, end0),
        ):
            if not mask.any():
                continue
            fa = (b_from[mask] - t0[mask]) / US / total[mask]
            fb = (b_to[mask] - t0[mask]) / US / total[mask]
            lo = p0[mask] + (p1[mask] - p0[mask]) * fa
            hi = p0[mask] + (p1[mask] - p0[mask]) * fb
            seconds = (b_to[mask] - b_from[mask]) / US
            ok = supply_ok[mask]
            self.add(
                (pos[mask] << KEY_SHIFT) | (bucket_start[mask] // US),
                energy_power_kwh=(lo + hi) / 2 * seconds / 3600,
                covered_s=seconds,
                supply_ok_s=np.where(ok, seconds, 0.0),
                supply_below_s=np.where(ok, 0.0, seconds),
            )
        many = ~one & ~two
        if many.any():
            sums: dict[tuple[int, datetime], Sums] = defaultdict(Sums)
            for i in np.flatnonzero(many):
                meter_id = batch.meter_ids[int(pos[i])]
                tz = batch.tzs[int(tz_index[i])]
                bucket = hour_bucket if not self.daily else (lambda ts, tz=tz: day_bucket(ts, tz))
                a, b = from_us(int(t0[i])), from_us(int(t1[i]))
                pieces = interval_pieces(a, float(p0[i]), b, float(p1[i]), bucket)
                for start, seconds, kwh in pieces:
                    sums[(meter_id, start)].add_piece(seconds, kwh, bool(supply_ok[i]))
            self.add_sums(batch, sums)

    def add_sums(self, batch: Batch, sums: dict[tuple[int, datetime], Sums]) -> None:
        """Buckets summed by the per-reading path."""
        if not sums:
            return
        items = list(sums.items())
        key = np.array(
            [
                (batch.position[mid] << KEY_SHIFT) | (to_us(start) // US)
                for (mid, start), _ in items
            ],
            np.int64,
        )
        cols: dict[str, np.ndarray] = {}
        for c in self.SUMS:
            cols[c] = np.array([float(getattr(s, c)) for _, s in items])
        for c, src, none in (("first_us", "first_ts", NO_FIRST), ("last_us", "last_ts", NO_LAST)):
            stamps = [getattr(s, src) for _, s in items]
            cols[c] = np.array([none if t is None else to_us(t) for t in stamps], np.int64)
        for c, none in (
            ("register_first_kwh", 0.0),
            ("cumulative_first_kwh", 0.0),
            ("register_last_kwh", 0.0),
            ("cumulative_last_kwh", 0.0),
            ("supply_min_c", np.inf),
            ("supply_max_c", -np.inf),
        ):
            values = [getattr(s, c) for _, s in items]
            cols[c] = np.array([none if v is None else v for v in values], float)
        self.add(key, **cols)

    def grouped(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Keys (sorted, unique) and the reduced columns, in the rules of :class:`Sums`."""
        key = np.concatenate(self.keys)
        cols = {c: np.concatenate([p[c] for p in self.parts]) for c in self.COLUMNS}
        order = np.argsort(key, kind="stable")
        k = key[order]
        starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
        out = {c: np.add.reduceat(cols[c][order], starts) for c in self.SUMS}
        out["supply_min_c"] = np.minimum.reduceat(cols["supply_min_c"][order], starts)
        out["supply_max_c"] = np.maximum.reduceat(cols["supply_max_c"][order], starts)
        first = np.lexsort((cols["first_us"], key))[starts]
        ends = np.concatenate((starts[1:], [len(k)])) - 1
        last = np.lexsort((cols["last_us"], key))[ends]
        for c in ("first_us", "register_first_kwh", "cumulative_first_kwh"):
            out[c] = cols[c][first]
        for c in ("last_us", "register_last_kwh", "cumulative_last_kwh"):
            out[c] = cols[c][last]
        return k[starts], out


class Batch:
    """Everything one ingest call writes, gathered so each table gets one COPY or statement."""

    def __init__(self, meter_ids: list[int], infos: dict[int, MeterInfo], gap: timedelta) -> None:
        self.meter_ids = meter_ids
        self.position = {mid: i for i, mid in enumerate(meter_ids)}
        self.infos = infos
        self.gap = gap
        self.gap_us = gap // ONE_US
        names = sorted({i.timezone for i in infos.values()})
        self.tzs = [zoneinfo.ZoneInfo(name) for name in names]
        self._tz_index = {name: i for i, name in enumerate(names)}
        self.raw: list[tuple[Any, ...]] = []
        self.rejected: list[RejectedReading] = []
        self.touched: list[int] = []
        self.hourly = Level(HourlyRollup, daily=False)
        self.daily = Level(DailyRollup, daily=True)

    def tz_index(self, meter: MeterInfo) -> int:
        return self._tz_index[meter.timezone]

    def prepare_days(self, lo_us: int, hi_us: int) -> None:
        """Local midnights of every time zone from before ``lo_us`` to after ``hi_us``."""
        self.daily.edges = []
        for tz in self.tzs:
            first = from_us(lo_us).astimezone(tz).date() - timedelta(days=1)
            days = (from_us(hi_us).astimezone(tz).date() - first).days + 3
            dates = [first + timedelta(days=d) for d in range(days)]
            self.daily.edges.append(
                np.array([to_us(datetime(d.year, d.month, d.day, tzinfo=tz)) for d in dates])
            )

    def write(self, states: dict[int, dict[str, Any]]) -> None:
        pg = connection.vendor == "postgresql"
        if self.raw:
            (copy_rows if pg else insert_raw)(self.raw)
        if self.rejected:
            RejectedReading.objects.bulk_create(self.rejected, batch_size=500)
        for level in (self.hourly, self.daily):
            if level.keys:
                merge_rollups(level.model, level.daily, self._rollup_rows(level), pg)
        if self.touched:
            rows = [[states[mid][f] for f in STATE_FIELDS] + [mid] for mid in self.touched]
            update_states(rows, pg)

    def _rollup_rows(self, level: Level) -> list[list[Any]]:
        """Rows in ``ROLLUP_STAGE`` order: times as epoch seconds/µs, absent values None."""
        keys, cols = level.grouped()
        pos = (keys >> KEY_SHIFT).tolist()
        start_s = (keys & ((1 << KEY_SHIFT) - 1)).tolist()
        no_first = (cols["first_us"] == NO_FIRST).tolist()
        no_last = (cols["last_us"] == NO_LAST).tolist()
        lists = {c: cols[c].tolist() for c in level.COLUMNS}
        lists["readings"] = cols["readings"].astype(np.int64).tolist()
        day_cache: dict[tuple[str, int], Any] = {}
        rows = []
        for i, p in enumerate(pos):
            info = self.infos[self.meter_ids[p]]
            row = [info.id, info.site_id, start_s[i], *(lists[c][i] for c in level.SUMS)]
            row += [None, None, None] if no_first[i] else [lists[c][i] for c in level.FIRST]
            row += (
                [None, None, None]
                if no_last[i]
                else [lists[c][i] for c in ("last_us", "register_last_kwh", "cumulative_last_kwh")]
            )
            low, high = lists["supply_min_c"][i], lists["supply_max_c"][i]
            row += [None if low == np.inf else low, None if high == -np.inf else high]
            if level.daily:
                cache_key = (info.timezone, start_s[i])
                if cache_key not in day_cache:
                    when = EPOCH + timedelta(seconds=start_s[i])
                    day_cache[cache_key] = when.astimezone(info.tzinfo).date()
                row.append(day_cache[cache_key])
            rows.append(row)
        return rows
