"""Writes for heat: ingest readings (validate, store, roll up) and poll meters.

``ingest_readings`` is the only way readings enter storage. Per meter it locks the meter's
state row, validates each reading against its predecessor, stores accepted readings in bulk
(COPY on PostgreSQL, multi-row INSERT elsewhere), records rejected ones with the reason, and
folds everything into the hourly and daily rollups in the same transaction, so rollups and raw
rows can never disagree.

``poll_meters`` reads meters concurrently over the network *outside* any transaction, then
hands the readings to ``ingest_readings``. The lead's Celery task wraps it and broadcasts the
returned changes on commit.
"""

from __future__ import annotations

import itertools
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.sites.models import HeatMeter, Site

from . import validation
from .meters import HeatMeterDriver, MeterError, MeterReading, driver_for, register_map
from .models import DailyRollup, HourlyRollup, MeterState, QualityFlag, Reading, RejectedReading
from .validation import Previous, validate_reading

# Rejections after which the register baseline moves to the rejected value, so one glitch or
# an unrecorded meter swap does not make every later reading look impossible too.
REBASING_REASONS = frozenset({"register_backwards", "register_jump"})
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


def max_gap_s() -> float:
    """Longest interval between two readings still counted as covered (default 3 polls)."""
    default = 3 * float(getattr(settings, "METER_POLL_INTERVAL", 10.0))
    return float(getattr(settings, "HEAT_MAX_GAP_S", default))


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


# --- buckets ---------------------------------------------------------------------------------


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


# --- ingestion -------------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)
US = 1_000_000
HOUR_US = 3600 * US
NO_FIRST = np.iinfo(np.int64).max  # "no reading in this contribution" for first/last
NO_LAST = np.iinfo(np.int64).min
KEY_SHIFT = 32  # rollup keys: (meter position << 32) | bucket start in epoch seconds


def _us(ts: datetime) -> int:
    return (ts - EPOCH) // ONE_US


def _from_us(us: int) -> datetime:
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


def ingest_readings(
    readings_by_meter: Mapping[int, Sequence[MeterReading]],
    *,
    received_at: datetime | None = None,
    gap_s: float | None = None,
    reference: bool = False,
) -> IngestResult:
    """Validate and store readings, keyed by meter id, maintaining rollups and meter state.

    Readings not newer than a meter's last accepted reading are skipped as duplicates when
    equal in time and rejected as ``out_of_order`` when older. Returns per-meter results.

    Two paths give the same result. A meter whose readings are all newer than its last one
    and all pass validation goes through the vectorised path (numpy over the whole batch:
    validation, cumulative energy, bucket splits, per-bucket sums). Any other meter (a
    rejection, a duplicate, out of order) goes through the per-reading path, which is the
    specification: ``reference=True`` sends every meter through it, and the tests check that
    both paths store identical rows.
    """
    received_at = received_at or timezone.now()
    gap = timedelta(seconds=max_gap_s() if gap_s is None else gap_s)
    meter_ids = sorted(readings_by_meter)
    result = IngestResult()
    if not meter_ids:
        return result
    with transaction.atomic():
        infos = _meter_infos(meter_ids)
        states = _lock_states(meter_ids)
        batch = _Batch(meter_ids, infos, gap)
        fast: list[tuple[MeterInfo, list[MeterReading], dict[str, Any]]] = []
        slow: list[tuple[MeterInfo, list[MeterReading], dict[str, Any]]] = []
        for mid in meter_ids:
            meter, state = infos[mid], states[mid]
            readings = list(readings_by_meter[mid])
            for reading in readings:
                if reading.read_at.tzinfo is None:
                    raise IngestError(f"meter {meter.serial}: naive timestamp {reading.read_at}")
            if not readings:
                result.meters[mid] = MeterIngest(mid)
                continue
            readings.sort(key=_read_at)
            last = state["last_ts"]
            increasing = all(a.read_at < b.read_at for a, b in itertools.pairwise(readings))
            if not reference and increasing and (last is None or readings[0].read_at > last):
                fast.append((meter, readings, state))
            else:
                slow.append((meter, readings, state))
        slow += _ingest_fast(fast, batch, result)
        for meter, readings, state in slow:
            _ingest_slow(meter, readings, state, batch, result, received_at)
        batch.write(states)
    return result


def _read_at(reading: MeterReading) -> datetime:
    return reading.read_at


def _meter_infos(meter_ids: list[int]) -> dict[int, MeterInfo]:
    rows: Iterable[Sequence[Any]]
    if connection.vendor == "postgresql":
        # One array parameter instead of 1000 placeholders: binding those costs more than
        # the query itself.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT m.id, m.serial, m.model, m.site_id, s.timezone, "  # noqa: S608
                "s.contract_min_supply_c "
                f"FROM {HeatMeter._meta.db_table} m JOIN {Site._meta.db_table} s "
                "ON s.id = m.site_id WHERE m.id = ANY(%s)",
                [meter_ids],
            )
            rows = cursor.fetchall()
    else:
        rows = HeatMeter.objects.filter(id__in=meter_ids).values_list(
            "id", "serial", "model", "site_id", "site__timezone", "site__contract_min_supply_c"
        )
    infos = {r[0]: MeterInfo(*r[:5], float(r[5])) for r in rows}
    missing = set(meter_ids) - set(infos)
    if missing:
        raise IngestError(f"unknown meter ids {sorted(missing)}")
    return infos


def _lock_states(meter_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Create missing state rows, then lock all of them in id order.

    Locking serialises concurrent ingests per meter: each validates against the predecessor
    the other stored.
    """
    cols = ("meter_id", *STATE_FIELDS)

    def locked() -> dict[int, dict[str, Any]]:
        rows: Iterable[Sequence[Any]]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {', '.join(cols)} FROM {MeterState._meta.db_table} "  # noqa: S608
                    "WHERE meter_id = ANY(%s) ORDER BY meter_id FOR UPDATE",
                    [meter_ids],
                )
                rows = cursor.fetchall()
        else:
            qs = MeterState.objects.select_for_update().filter(meter_id__in=meter_ids)
            rows = qs.order_by("meter_id").values_list(*cols)
        return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}

    states = locked()
    if len(states) < len(meter_ids):
        MeterState.objects.bulk_create(
            [MeterState(meter_id=mid) for mid in meter_ids if mid not in states],
            ignore_conflicts=True,
        )
        states = locked()
    return states


# --- the per-reading path (the specification) --------------------------------------------------


def _ingest_slow(
    meter: MeterInfo,
    readings: list[MeterReading],
    state_row: dict[str, Any],
    batch: _Batch,
    result: IngestResult,
    received_at: datetime,
) -> None:
    state = MeterState(**state_row)
    hourly: dict[tuple[int, datetime], Sums] = defaultdict(Sums)
    daily: dict[tuple[int, datetime], Sums] = defaultdict(Sums)
    out = _ingest_meter(meter, state, readings, received_at, batch.gap, hourly, daily)
    for f in STATE_FIELDS:
        state_row[f] = getattr(state, f)
    batch.touched.append(meter.id)
    batch.raw.extend(astuple(r) for r in out.accepted)
    batch.rejected.extend(out.rejected)
    batch.hourly.add_sums(batch, hourly)
    batch.daily.add_sums(batch, daily)
    result.meters[meter.id] = out


def _ingest_meter(
    meter: MeterInfo,
    state: MeterState,
    readings: Sequence[MeterReading],
    received_at: datetime,
    gap: timedelta,
    hourly: dict[tuple[int, datetime], Sums],
    daily: dict[tuple[int, datetime], Sums],
) -> MeterIngest:
    rmap = register_map(meter.model)
    tz = meter.tzinfo
    contract = meter.contract_min_supply_c
    out = MeterIngest(meter.id)
    for reading in sorted(readings, key=_read_at):
        if state.last_ts is not None and reading.read_at <= state.last_ts:
            if reading.read_at == state.last_ts:
                out.duplicates += 1
                continue
            out.rejected.append(_rejection(meter, reading, received_at, "out_of_order", ""))
            continue
        previous = None
        if state.last_ts is not None:
            previous = Previous(
                ts=state.last_ts,
                power_kw=state.last_power_kw or 0.0,
                register_kwh=state.register_baseline_kwh or 0.0,
                register_since=state.register_changed_at,
            )
        verdict = validate_reading(
            reading, previous=previous, rollover_kwh=rmap.rollover_kwh, flow_at=rmap.flow_at
        )
        if not verdict.ok:
            out.rejected.append(
                _rejection(meter, reading, received_at, verdict.reason, verdict.detail)
            )
            state.status = MeterState.Status.REJECTING
            state.last_error = f"{verdict.reason}: {verdict.detail}"[:300]
            if verdict.reason in REBASING_REASONS:
                state.register_baseline_kwh = reading.energy_kwh
                state.register_changed_at = reading.read_at
                state.rebased = True
            continue
        flags = 0
        if previous is None:
            flags |= QualityFlag.FIRST
            cumulative = reading.energy_kwh
        else:
            cumulative = (state.last_energy_kwh or 0.0) + verdict.delta_kwh
        if verdict.rollover:
            flags |= QualityFlag.ROLLOVER
        if reading.status:
            flags |= QualityFlag.METER_STATUS
        if state.rebased:
            flags |= QualityFlag.REBASED
        row = RawRow(
            meter_id=meter.id,
            ts=reading.read_at,
            supply_c=reading.supply_c,
            return_c=reading.return_c,
            flow_m3h=reading.flow_m3h,
            power_kw=reading.power_kw,
            energy_register_kwh=reading.energy_kwh,
            energy_kwh=cumulative,
            status=reading.status,
            flags=flags,
        )
        if previous is not None:
            if reading.read_at - previous.ts > gap:
                row.flags |= QualityFlag.AFTER_GAP
            else:
                supply_ok = (state.last_supply_c or 0.0) >= contract
                for key_bucket, target in (
                    (hour_bucket, hourly),
                    (lambda ts: day_bucket(ts, tz), daily),
                ):
                    for start, seconds, kwh in interval_pieces(
                        previous.ts,
                        previous.power_kw,
                        reading.read_at,
                        reading.power_kw,
                        key_bucket,
                    ):
                        target[(meter.id, start)].add_piece(seconds, kwh, supply_ok)
        hourly[(meter.id, hour_bucket(reading.read_at)[0])].add_reading(row, verdict.delta_kwh)
        daily[(meter.id, day_bucket(reading.read_at, tz)[0])].add_reading(row, verdict.delta_kwh)
        out.accepted.append(row)
        if verdict.delta_kwh or state.register_changed_at is None:
            state.register_changed_at = reading.read_at
        state.last_ts = reading.read_at
        state.last_supply_c = reading.supply_c
        state.last_return_c = reading.return_c
        state.last_flow_m3h = reading.flow_m3h
        state.last_power_kw = reading.power_kw
        state.last_energy_kwh = cumulative
        state.register_baseline_kwh = reading.energy_kwh
        state.rebased = False
        state.status = MeterState.Status.OK
        state.last_error = ""
    return out


def _rejection(
    meter: MeterInfo, reading: MeterReading, received_at: datetime, reason: str, detail: str
) -> RejectedReading:
    return RejectedReading(
        meter_id=meter.id,
        ts=reading.read_at,
        received_at=received_at,
        reason=reason,
        detail=detail[:300],
        values={
            "supply_c": reading.supply_c,
            "return_c": reading.return_c,
            "flow_m3h": reading.flow_m3h,
            "power_kw": reading.power_kw,
            "energy_kwh": reading.energy_kwh,
            "status": reading.status,
        },
    )


# --- the vectorised path -----------------------------------------------------------------------


def _ingest_fast(
    items: list[tuple[MeterInfo, list[MeterReading], dict[str, Any]]],
    batch: _Batch,
    result: IngestResult,
) -> list[tuple[MeterInfo, list[MeterReading], dict[str, Any]]]:
    """Ingest meters whose readings all validate; return the others for the per-reading path.

    Arrays hold all readings of all meters, meter after meter, each meter's in time order
    (a "segment"); a reading's predecessor is the one before it, or the meter's stored state
    at a segment's start.
    """
    if not items:
        return []
    seg_len = np.array([len(rs) for _, rs, _ in items])
    n = int(seg_len.sum())
    seg_start = np.concatenate(([0], np.cumsum(seg_len)[:-1]))
    seg_end = seg_start + seg_len - 1
    seg_of = np.repeat(np.arange(len(items)), seg_len)
    flat = [r for _, rs, _ in items for r in rs]
    ts = np.fromiter((_us(r.read_at) for r in flat), np.int64, n)
    supply = np.fromiter((r.supply_c for r in flat), float, n)
    ret = np.fromiter((r.return_c for r in flat), float, n)
    flow = np.fromiter((r.flow_m3h for r in flat), float, n)
    power = np.fromiter((r.power_kw for r in flat), float, n)
    register = np.fromiter((r.energy_kwh for r in flat), float, n)
    status = np.fromiter((r.status for r in flat), np.int64, n)

    maps = [register_map(m.model) for m, _, _ in items]
    states = [s for _, _, s in items]
    st_has = np.array([s["last_ts"] is not None for s in states])
    st_ts = np.array([_us(s["last_ts"]) if s["last_ts"] else 0 for s in states], np.int64)
    st_since = np.array(
        [_us(s["register_changed_at"] or s["last_ts"]) if s["last_ts"] else 0 for s in states],
        np.int64,
    )
    st_rc_known = np.array([s["register_changed_at"] is not None for s in states])

    def shifted(values: np.ndarray, at_start: Any) -> np.ndarray:
        out = np.empty_like(values)
        out[1:] = values[:-1]
        out[seg_start] = at_start
        return out

    has_prev = np.ones(n, bool)
    has_prev[seg_start] = st_has
    prev_ts = shifted(ts, st_ts)
    prev_power = shifted(power, [s["last_power_kw"] or 0.0 for s in states])
    prev_register = shifted(register, [s["register_baseline_kwh"] or 0.0 for s in states])
    prev_supply = shifted(supply, [s["last_supply_c"] or 0.0 for s in states])
    # When the predecessor's register last changed: the state's stamp at a segment start,
    # else the latest earlier reading of the segment whose register moved.
    changed = ~has_prev | (register != prev_register)
    changed[seg_start] |= ~st_rc_known
    marker = np.zeros(n, bool)
    marker[1:] = changed[:-1]
    marker[seg_start] = True
    since_value = shifted(ts, st_since)
    idx = np.maximum.accumulate(np.where(marker, np.arange(n), -1))
    prev_since = since_value[idx]

    verdict = validation.batch_valid(
        supply_c=supply,
        return_c=ret,
        flow_m3h=flow,
        power_kw=power,
        register_kwh=register,
        ts_us=ts,
        rollover_kwh=np.array([m.rollover_kwh for m in maps])[seg_of],
        flow_at_supply=np.array([m.flow_at == "supply" for m in maps])[seg_of],
        has_previous=has_prev,
        previous_ts_us=prev_ts,
        previous_power_kw=prev_power,
        previous_register_kwh=prev_register,
        previous_since_us=np.where(has_prev, prev_since, 0),
    )
    seg_ok = np.logical_and.reduceat(verdict.ok, seg_start)
    if not seg_ok.all():
        # Rare: re-run the clean meters alone, hand the others to the per-reading path.
        good = [item for item, ok in zip(items, seg_ok, strict=True) if ok]
        bad = [item for item, ok in zip(items, seg_ok, strict=True) if not ok]
        return bad + _ingest_fast(good, batch, result)

    delta = verdict.delta_kwh
    cumulative = np.empty(n)
    st_cum = np.array([s["last_energy_kwh"] or 0.0 for s in states])
    cumulative[seg_start] = np.where(st_has, st_cum + delta[seg_start], register[seg_start])
    for s, e in zip(seg_start[seg_len > 1], seg_end[seg_len > 1], strict=True):
        # Sequential sums, as the per-reading path adds them (numpy's accumulate is sequential).
        cumulative[s : e + 1] = np.add.accumulate(
            np.concatenate(([cumulative[s]], delta[s + 1 : e + 1]))
        )
    after_gap = has_prev & (ts - prev_ts > batch.gap_us)
    flags = np.where(~has_prev, int(QualityFlag.FIRST), 0)
    flags |= np.where(verdict.rollover, int(QualityFlag.ROLLOVER), 0)
    flags |= np.where(status != 0, int(QualityFlag.METER_STATUS), 0)
    flags |= np.where(after_gap, int(QualityFlag.AFTER_GAP), 0)
    st_rebased = np.array([bool(s["rebased"]) for s in states])
    flags[seg_start] |= np.where(st_rebased, int(QualityFlag.REBASED), 0)

    meter_ids = [m.id for m, _, _ in items]
    mids = np.array(meter_ids)[seg_of].tolist()
    rows = list(
        zip(
            mids,
            (r.read_at for r in flat),
            supply.tolist(),
            ret.tolist(),
            flow.tolist(),
            power.tolist(),
            register.tolist(),
            cumulative.tolist(),
            status.tolist(),
            flags.tolist(),
            strict=True,
        )
    )
    batch.raw.extend(rows)
    for i, (meter, _, state) in enumerate(items):
        out = MeterIngest(meter.id, [RawRow(*r) for r in rows[seg_start[i] : seg_end[i] + 1]])
        result.meters[meter.id] = out
        s, e = int(seg_start[i]), int(seg_end[i])
        moved = np.flatnonzero(changed[s : e + 1])
        state.update(
            status=MeterState.Status.OK,
            last_ts=flat[e].read_at,
            last_supply_c=flat[e].supply_c,
            last_return_c=flat[e].return_c,
            last_flow_m3h=flat[e].flow_m3h,
            last_power_kw=flat[e].power_kw,
            last_energy_kwh=float(cumulative[e]),
            register_baseline_kwh=flat[e].energy_kwh,
            rebased=False,
            last_error="",
        )
        if len(moved):
            state["register_changed_at"] = flat[s + int(moved[-1])].read_at
        batch.touched.append(meter.id)

    pos = np.array([batch.position[m] for m in meter_ids])[seg_of]
    contract = np.array([m.contract_min_supply_c for m, _, _ in items])[seg_of]
    tz_index = np.array([batch.tz_index(m) for m, _, _ in items])[seg_of]
    covered = has_prev & ~after_gap
    lo = int(min(ts.min(), prev_ts[covered].min(initial=ts.min())))
    batch.prepare_days(lo, int(ts.max()))
    for level in (batch.hourly, batch.daily):
        start, _ = level.bucket(ts, tz_index)
        level.add_readings(
            key=(pos << KEY_SHIFT) | (start // US),
            ts=ts,
            register=register,
            cumulative=cumulative,
            energy=delta,
            supply=supply,
            ret=ret,
            flow=flow,
            power=power,
        )
        level.add_intervals(
            batch,
            pos=pos[covered],
            t0=prev_ts[covered],
            t1=ts[covered],
            p0=prev_power[covered],
            p1=power[covered],
            supply_ok=prev_supply[covered] >= contract[covered],
            tz_index=tz_index[covered],
        )
    return []


class _Level:
    """Per-bucket contributions of one rollup level (hourly or daily) for one batch.

    Contributions (one per reading, per piece of interval, or per pre-summed bucket from the
    per-reading path) are arrays; :meth:`grouped` reduces them per (meter, bucket) with the
    same rules as :class:`Sums` and the SQL merge.
    """

    SUMS = (
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

    def add_intervals(self, batch: _Batch, *, pos: np.ndarray, t0: np.ndarray, t1: np.ndarray,
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
                a, b = _from_us(int(t0[i])), _from_us(int(t1[i]))
                pieces = interval_pieces(a, float(p0[i]), b, float(p1[i]), bucket)
                for start, seconds, kwh in pieces:
                    sums[(meter_id, start)].add_piece(seconds, kwh, bool(supply_ok[i]))
            self.add_sums(batch, sums)

    def add_sums(self, batch: _Batch, sums: dict[tuple[int, datetime], Sums]) -> None:
        """Buckets summed by the per-reading path."""
        if not sums:
            return
        items = list(sums.items())
        key = np.array(
            [(batch.position[mid] << KEY_SHIFT) | (_us(start) // US) for (mid, start), _ in items],
            np.int64,
        )
        cols: dict[str, np.ndarray] = {}
        for c in self.SUMS:
            cols[c] = np.array([float(getattr(s, c)) for _, s in items])
        for c, src, none in (("first_us", "first_ts", NO_FIRST), ("last_us", "last_ts", NO_LAST)):
            stamps = [getattr(s, src) for _, s in items]
            cols[c] = np.array([none if t is None else _us(t) for t in stamps], np.int64)
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


class _Batch:
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
        self.hourly = _Level(HourlyRollup, daily=False)
        self.daily = _Level(DailyRollup, daily=True)

    def tz_index(self, meter: MeterInfo) -> int:
        return self._tz_index[meter.timezone]

    def prepare_days(self, lo_us: int, hi_us: int) -> None:
        """Local midnights of every time zone from before ``lo_us`` to after ``hi_us``."""
        self.daily.edges = []
        for tz in self.tzs:
            first = _from_us(lo_us).astimezone(tz).date() - timedelta(days=1)
            days = (_from_us(hi_us).astimezone(tz).date() - first).days + 3
            dates = [first + timedelta(days=d) for d in range(days)]
            self.daily.edges.append(
                np.array([_us(datetime(d.year, d.month, d.day, tzinfo=tz)) for d in dates])
            )

    def write(self, states: dict[int, dict[str, Any]]) -> None:
        pg = connection.vendor == "postgresql"
        if self.raw:
            (_copy_rows if pg else _insert_raw)(self.raw)
        if self.rejected:
            RejectedReading.objects.bulk_create(self.rejected, batch_size=500)
        for level in (self.hourly, self.daily):
            if level.keys:
                _merge_rollups(level, self._rollup_rows(level), pg)
        if self.touched:
            rows = [[states[mid][f] for f in STATE_FIELDS] + [mid] for mid in self.touched]
            _update_states(rows, pg)

    def _rollup_rows(self, level: _Level) -> list[list[Any]]:
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


# --- writing ---------------------------------------------------------------------------------

RAW_PG_TYPES = ["int8", "timestamptz", *["float8"] * 6, "int4", "int2"]
ROLLUP_STAGE = (
    ("meter_id", "int8"),
    ("site_id", "int8"),
    ("bucket_start_s", "int8"),
    ("readings", "int8"),
    *((c, "float8") for c in _Level.SUMS[1:]),
    ("first_us", "int8"),
    ("register_first_kwh", "float8"),
    ("cumulative_first_kwh", "float8"),
    ("last_us", "int8"),
    ("register_last_kwh", "float8"),
    ("cumulative_last_kwh", "float8"),
    ("supply_min_c", "float8"),
    ("supply_max_c", "float8"),
    ("day", "date"),
)
STATE_STAGE = (
    ("status", "text"),
    ("last_ts", "timestamptz"),
    *((c, "float8") for c in STATE_FIELDS[2:8]),
    ("register_changed_at", "timestamptz"),
    ("rebased", "bool"),
    ("last_error", "text"),
    ("meter_id", "int8"),
)
STAGES = {"heat_stage_rollup": ROLLUP_STAGE, "heat_stage_state": STATE_STAGE}


def _dt(value: datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(value) if value is not None else None


CHUNK_ROWS = 500  # rows per multi-row statement (SQLite allows 32 766 bound variables)


def _chunks(rows: list[list[Any]]) -> Iterable[list[list[Any]]]:
    for i in range(0, len(rows), CHUNK_ROWS):
        yield rows[i : i + CHUNK_ROWS]


def _insert_values(table: str, cols: list[str], rows: list[list[Any]], suffix: str = "") -> None:
    """Multi-row INSERT in chunks: one round trip per 500 rows instead of one per row."""
    with connection.cursor() as cursor:
        for chunk in _chunks(rows):
            values = ", ".join(["(" + ", ".join(["%s"] * len(cols)) + ")"] * len(chunk))
            # Identifiers come from our own constants, values are bound parameters.
            sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES {values} {suffix}"  # noqa: S608
            cursor.execute(sql, [v for row in chunk for v in row])


def _copy_rows(
    rows: Iterable[Sequence[Any]],
    table: str = Reading._meta.db_table,
    cols: Sequence[str] = RAW_FIELDS,
    types: Sequence[str] = RAW_PG_TYPES,
) -> None:
    """Binary COPY (PostgreSQL): psycopg's C dumpers, no text formatting in Python."""
    sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def _stage(name: str, rows: list[list[Any]]) -> None:
    """Fill a session-local staging table (created on first use, emptied at commit)."""
    spec = STAGES[name]
    columns = ", ".join(f"{c} {t}" for c, t in spec)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS")
        # Several ingests can share one transaction (tests, backfills): start empty.
        cursor.execute(f"TRUNCATE {name}")
    _copy_rows(rows, name, [c for c, _ in spec], [t for _, t in spec])


def _insert_raw(rows: list[tuple[Any, ...]]) -> None:
    _insert_values(
        Reading._meta.db_table, list(RAW_FIELDS), [[r[0], _dt(r[1]), *r[2:]] for r in rows]
    )


def _merge_sql(table: str, cols: list[str]) -> str:
    """ON CONFLICT clause merging new sums into a bucket: sums add, first/last keep the
    earliest/latest reading, min/max ignore NULLs (same SQL on PostgreSQL and SQLite 3.24+)."""
    updates = [f"{c} = {table}.{c} + EXCLUDED.{c}" for c in _Level.SUMS]
    first_wins = (
        f"{table}.first_ts IS NULL OR (EXCLUDED.first_ts IS NOT NULL "
        f"AND EXCLUDED.first_ts < {table}.first_ts)"
    )
    last_wins = (
        f"EXCLUDED.last_ts IS NOT NULL AND ({table}.last_ts IS NULL "
        f"OR EXCLUDED.last_ts >= {table}.last_ts)"
    )
    updates += [
        f"{c} = CASE WHEN {first_wins} THEN EXCLUDED.{c} ELSE {table}.{c} END" for c in ROLLUP_FIRST
    ]
    updates += [
        f"{c} = CASE WHEN {last_wins} THEN EXCLUDED.{c} ELSE {table}.{c} END" for c in ROLLUP_LAST
    ]
    for c, op in (("supply_min_c", "<"), ("supply_max_c", ">")):
        updates.append(
            f"{c} = CASE WHEN {table}.{c} IS NULL THEN EXCLUDED.{c} "
            f"WHEN EXCLUDED.{c} IS NULL THEN {table}.{c} "
            f"WHEN EXCLUDED.{c} {op} {table}.{c} THEN EXCLUDED.{c} ELSE {table}.{c} END"
        )
    return f"ON CONFLICT (meter_id, bucket_start) DO UPDATE SET {', '.join(updates)}"


ROLLUP_FIRST = ("first_ts", "register_first_kwh", "cumulative_first_kwh")
ROLLUP_LAST = ("last_ts", "register_last_kwh", "cumulative_last_kwh")


def _merge_rollups(level: _Level, rows: list[list[Any]], pg: bool) -> None:
    """One merge per level and batch: staged by COPY on PostgreSQL, VALUES on SQLite."""
    table = level.model._meta.db_table
    cols = ["meter_id", "site_id", "bucket_start", *_Level.SUMS, *ROLLUP_FIRST, *ROLLUP_LAST,
            "supply_min_c", "supply_max_c"]  # fmt: skip
    if level.daily:
        cols.append("day")
    suffix = _merge_sql(table, cols)
    if not pg:
        stamp = {2, 3 + len(_Level.SUMS), 6 + len(_Level.SUMS)}  # seconds / µs / µs
        for row in rows:
            row[2] = _dt(EPOCH + timedelta(seconds=row[2]))
            for i in sorted(stamp - {2}):
                row[i] = _dt(_from_us(row[i])) if row[i] is not None else None
            if level.daily:
                row[-1] = connection.ops.adapt_datefield_value(row[-1])
        _insert_values(table, cols, rows, suffix)
        return
    if not level.daily:
        rows = [[*row, None] for row in rows]
    _stage("heat_stage_rollup", rows)
    source = [c for c, _ in ROLLUP_STAGE]
    exprs = []
    for c in source:
        if c == "bucket_start_s":
            exprs.append("to_timestamp(bucket_start_s)")
        elif c.endswith("_us"):
            exprs.append(f"TIMESTAMPTZ 'epoch' + {c} * INTERVAL '1 microsecond'")
        elif c != "day" or level.daily:
            exprs.append(c)
    with connection.cursor() as cursor:
        # Identifiers come from our own constants.
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) "  # noqa: S608
            f"SELECT {', '.join(exprs)} FROM heat_stage_rollup {suffix}"
        )


def _update_states(rows: list[list[Any]], pg: bool) -> None:
    """Write back the state rows (``STATE_FIELDS`` then meter_id).

    PostgreSQL: COPY to a staging table and one UPDATE ... FROM; SQLite runs in-process, so
    per-row statements cost no round trip.
    """
    table = MeterState._meta.db_table
    if not pg:
        one_row = ", ".join(f"{c} = %s" for c in STATE_FIELDS)
        sql = f"UPDATE {table} SET {one_row} WHERE meter_id = %s"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.executemany(
                sql, [[_dt(v) if isinstance(v, datetime) else v for v in row] for row in rows]
            )
        return
    _stage("heat_stage_state", rows)
    sets = ", ".join(f"{c} = v.{c}" for c in STATE_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {sets} FROM heat_stage_state AS v "  # noqa: S608
            f"WHERE {table}.meter_id = v.meter_id"
        )


# --- polling ---------------------------------------------------------------------------------


@dataclass
class PollResult:
    """One meter's poll outcome, for the caller to broadcast / alarm on."""

    meter_id: int
    site_id: int
    serial: str
    ok: bool
    reading: MeterReading | None = None
    rejected_reason: str = ""
    error: str = ""
    transient: bool = True
    went_offline: bool = False
    came_back: bool = False


DriverFactory = Callable[[HeatMeter, float], HeatMeterDriver]


def _default_driver(meter: HeatMeter, timeout: float) -> HeatMeterDriver:
    return driver_for(
        protocol=meter.protocol,
        host=meter.host,
        port=meter.port,
        unit_id=meter.unit_id,
        model=meter.model,
        timeout=timeout,
    )


def poll_meters(
    meter_ids: Sequence[int],
    *,
    timeout: float = 3.0,
    max_workers: int = 16,
    clock: Callable[[], datetime] | None = None,
    driver_factory: DriverFactory | None = None,
    gap_s: float | None = None,
) -> list[PollResult]:
    """Read meters concurrently (each bounded by ``timeout``), validate, store; report changes.

    ``clock`` stamps readings (default: now, UTC); the lab passes its simulated clock. The
    whole poll returns within about ``2 x timeout`` however many meters hang.
    """
    factory = driver_factory or _default_driver
    meters = list(HeatMeter.objects.filter(id__in=meter_ids, removed_at__isnull=True))
    if not meters:
        return []

    def read(meter: HeatMeter) -> MeterReading:
        driver = factory(meter, timeout)
        try:
            reading = driver.read()
        finally:
            driver.close()
        if clock is not None:
            reading = MeterReading(**{**reading.__dict__, "read_at": clock()})
        return reading

    outcomes: dict[int, MeterReading | MeterError] = {}
    pool = ThreadPoolExecutor(max_workers=min(max_workers, len(meters)))
    try:
        futures = {pool.submit(read, m): m for m in meters}
        done, _ = wait(futures, timeout=2 * timeout + 1)
        for fut, meter in futures.items():
            if fut not in done:
                outcomes[meter.id] = MeterError("poll_timeout", True, f"no answer in {timeout} s")
                continue
            exc = fut.exception()
            if isinstance(exc, MeterError):
                outcomes[meter.id] = exc
            elif exc is not None:
                outcomes[meter.id] = MeterError("driver_error", True, repr(exc))
            else:
                outcomes[meter.id] = fut.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)

    polled_at = clock() if clock is not None else timezone.now()
    readings = {mid: [r] for mid, r in outcomes.items() if isinstance(r, MeterReading)}
    before = {
        s.meter_id: (s.status, s.offline_since)
        for s in MeterState.objects.filter(meter_id__in=[m.id for m in meters])
    }
    ingest = ingest_readings(readings, gap_s=gap_s) if readings else IngestResult()
    results = []
    with transaction.atomic():
        for meter in meters:
            state, _ = MeterState.objects.select_for_update().get_or_create(meter_id=meter.id)
            was_offline = before.get(meter.id, ("unknown", None))[0] == MeterState.Status.OFFLINE
            outcome = outcomes[meter.id]
            res = PollResult(meter.id, meter.site_id, meter.serial, ok=False)
            state.last_polled_at = polled_at
            if isinstance(outcome, MeterError):
                res.error, res.transient = str(outcome), outcome.transient
                state.consecutive_failures += 1
                state.last_error = str(outcome)[:300]
                if state.status != MeterState.Status.OFFLINE:
                    state.status = MeterState.Status.OFFLINE
                    state.offline_since = polled_at
                    res.went_offline = True
            else:
                mi = ingest.meters.get(meter.id)
                state.consecutive_failures = 0
                state.offline_since = None
                res.came_back = was_offline
                if mi and mi.accepted:
                    res.ok, res.reading = True, outcome
                    state.last_ok_at = polled_at
                elif mi and mi.rejected:
                    res.rejected_reason = mi.rejected[-1].reason
                    res.error = mi.rejected[-1].detail
            state.save()
            results.append(res)
    return results


# --- live broadcasts -------------------------------------------------------------------------


def _iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts is not None else None


def site_reading_events(
    site_ids: Iterable[int], *, fresh_meter_ids: set[int], polled_at: datetime
) -> dict[int, dict[str, Any]]:
    """The live ``heat.reading`` event of each site with a fresh reading, from meter state.

    A whitelist of partner-safe figures (never serials, hosts or errors): power and flow summed
    over the site's active meters read in this poll, flow-weighted temperatures, cumulative
    energy, and ``coverage`` = covered share of the current UTC hour so far (all active meters).
    ``polled_at`` (wall clock, when the poll started) lets a browser measure the latency.
    """
    states = list(
        MeterState.objects.filter(
            meter__site_id__in=list(site_ids),
            meter__removed_at__isnull=True,
            meter_id__in=fresh_meter_ids,
        ).values(
            "meter_id",
            "meter__site_id",
            "meter__site__contract_min_supply_c",
            "last_ts",
            "last_supply_c",
            "last_return_c",
            "last_flow_m3h",
            "last_power_kw",
            "last_energy_kwh",
        )
    )
    by_site: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for st in states:
        if st["last_ts"] is not None:
            by_site[st["meter__site_id"]].append(st)
    if not by_site:
        return {}
    hour = max(st["last_ts"] for rows in by_site.values() for st in rows)
    hour_start = hour_bucket(hour)[0]
    covered: dict[int, float] = defaultdict(float)
    for site_id, covered_s in HourlyRollup.objects.filter(
        site_id__in=list(by_site), bucket_start=hour_start
    ).values_list("site_id", "covered_s"):
        covered[site_id] += covered_s
    active = defaultdict(int)
    for site_id in HeatMeter.objects.filter(
        site_id__in=list(by_site), removed_at__isnull=True
    ).values_list("site_id", flat=True):
        active[site_id] += 1
    events = {}
    for site_id, rows in by_site.items():
        ts = max(st["last_ts"] for st in rows)
        flow = sum(st["last_flow_m3h"] or 0.0 for st in rows)

        def weighted(key: str, rows: list[dict[str, Any]] = rows, flow: float = flow) -> float:
            if flow > 0:
                return sum(st[key] * (st["last_flow_m3h"] or 0.0) for st in rows) / flow
            return sum(st[key] for st in rows) / len(rows)

        supply = weighted("last_supply_c")
        contract = float(rows[0]["meter__site__contract_min_supply_c"])
        elapsed = (ts - hour_start).total_seconds() * max(active[site_id], 1)
        events[site_id] = {
            "type": "heat.reading",
            "site_id": site_id,
            "ts": _iso(ts),
            "polled_at": _iso(polled_at),
            "power_kw": sum(st["last_power_kw"] or 0.0 for st in rows),
            "supply_c": supply,
            "return_c": weighted("last_return_c"),
            "flow_m3h": flow,
            "energy_kwh": sum(st["last_energy_kwh"] or 0.0 for st in rows),
            "coverage": min(covered[site_id] / elapsed, 1.0) if elapsed > 0 else None,
            "contract_min_supply_c": contract,
            "supply_ok": supply >= contract,
        }
    return events


@dataclass
class PollSummary:
    """What one ``heat_poll_and_broadcast`` call did (for the task's log and the tests)."""

    polled: int = 0
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    sites_broadcast: int = 0
    alarms_raised: int = 0
    alarms_cleared: int = 0


def heat_poll_and_broadcast(
    meter_ids: Sequence[int],
    *,
    timeout: float | None = None,
    clock: Callable[[], datetime] | None = None,
    driver_factory: DriverFactory | None = None,
) -> PollSummary:
    """Poll meters, store their readings, push live events, evaluate the sites' alarms.

    Events (through ``apps.core.realtime.broadcast``, sent once stored):

    * ``heat.reading`` per site with a fresh reading, to ``site.<id>.heat``,
      ``partner.<partner id>.heat`` and ``fleet.heat`` (see :func:`site_reading_events`);
    * ``heat.meter_state`` when a meter goes offline or comes back, to ``site.<id>.hardware``
      only (it names the meter and the error: engineering detail).

    ``clock`` is the lab's simulated clock (readings and alarms use it); ``polled_at`` in the
    events is always the wall clock, for latency measurements.
    """
    from apps.core.realtime import broadcast

    from . import alarms

    polled_at = timezone.now()
    timeout = float(getattr(settings, "METER_TIMEOUT", 3.0)) if timeout is None else timeout
    results = poll_meters(meter_ids, timeout=timeout, clock=clock, driver_factory=driver_factory)
    summary = PollSummary(polled=len(results))
    fresh = {r.meter_id for r in results if r.ok}
    summary.ok = len(fresh)
    summary.failed = sum(1 for r in results if r.error and not r.rejected_reason)
    summary.rejected = sum(1 for r in results if r.rejected_reason)
    site_ids = sorted({r.site_id for r in results})
    partners = dict(Site.objects.filter(id__in=site_ids).values_list("id", "partner_id"))
    events = site_reading_events(site_ids, fresh_meter_ids=fresh, polled_at=polled_at)
    for site_id, event in events.items():
        broadcast(f"site.{site_id}.heat", event)
        broadcast(f"partner.{partners[site_id]}.heat", event)
        broadcast("fleet.heat", event)
    summary.sites_broadcast = len(events)
    if events:
        from .live import totals_broadcast

        totals_broadcast(set(partners.values()))
    for r in results:
        if r.went_offline or r.came_back:
            broadcast(
                f"site.{r.site_id}.hardware",
                {
                    "type": "heat.meter_state",
                    "site_id": r.site_id,
                    "meter_id": r.meter_id,
                    "serial": r.serial,
                    "status": "offline" if r.went_offline else "online",
                    "at": _iso(clock() if clock else timezone.now()),
                    "error": r.error,
                },
            )
    now = clock() if clock is not None else timezone.now()
    for change in alarms.alarms_evaluate(site_ids, now=now):
        if change.change == "raised":
            summary.alarms_raised += 1
        else:
            summary.alarms_cleared += 1
    return summary
