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

import io
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.sites.models import HeatMeter

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


def ingest_readings(
    readings_by_meter: Mapping[int, Sequence[MeterReading]],
    *,
    received_at: datetime | None = None,
    gap_s: float | None = None,
) -> IngestResult:
    """Validate and store readings, keyed by meter id, maintaining rollups and meter state.

    Readings not newer than a meter's last accepted reading are skipped as duplicates when
    equal in time and rejected as ``out_of_order`` when older. Returns per-meter results.
    """
    received_at = received_at or timezone.now()
    gap = timedelta(seconds=max_gap_s() if gap_s is None else gap_s)
    meter_ids = sorted(readings_by_meter)
    result = IngestResult()
    with transaction.atomic():
        meters = HeatMeter.objects.select_related("site").in_bulk(meter_ids)
        missing = set(meter_ids) - set(meters)
        if missing:
            raise IngestError(f"unknown meter ids {sorted(missing)}")
        known = set(
            MeterState.objects.filter(meter_id__in=meter_ids).values_list("meter_id", flat=True)
        )
        MeterState.objects.bulk_create(
            [MeterState(meter_id=mid) for mid in meter_ids if mid not in known],
            ignore_conflicts=True,
        )
        # Locking the state rows in id order serialises concurrent ingests per meter.
        states = {
            s.meter_id: s
            for s in MeterState.objects.select_for_update().filter(meter_id__in=meter_ids)
        }
        rows: list[RawRow] = []
        rejected: list[RejectedReading] = []
        hourly: dict[tuple[int, datetime], Sums] = defaultdict(Sums)
        daily: dict[tuple[int, datetime], Sums] = defaultdict(Sums)
        for mid in meter_ids:
            meter = meters[mid]
            outcome = _ingest_meter(
                meter, states[mid], readings_by_meter[mid], received_at, gap, hourly, daily
            )
            rows.extend(outcome.accepted)
            rejected.extend(outcome.rejected)
            result.meters[mid] = outcome
        _insert_readings(rows)
        RejectedReading.objects.bulk_create(rejected, batch_size=500)
        _upsert_rollups(HourlyRollup, hourly, meters, None)
        _upsert_rollups(DailyRollup, daily, meters, "day")
        _update_states(list(states.values()))
    return result


def _ingest_meter(
    meter: HeatMeter,
    state: MeterState,
    readings: Sequence[MeterReading],
    received_at: datetime,
    gap: timedelta,
    hourly: dict[tuple[int, datetime], Sums],
    daily: dict[tuple[int, datetime], Sums],
) -> MeterIngest:
    rmap = register_map(meter.model)
    tz = meter.site.tzinfo
    contract = float(meter.site.contract_min_supply_c)
    out = MeterIngest(meter.id)
    for reading in sorted(readings, key=lambda r: r.read_at):
        if reading.read_at.tzinfo is None:
            raise IngestError(f"meter {meter.serial}: naive timestamp {reading.read_at}")
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
    meter: HeatMeter, reading: MeterReading, received_at: datetime, reason: str, detail: str
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


def _insert_readings(rows: list[RawRow]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        _copy_readings(rows)
    else:
        _insert_values(
            Reading._meta.db_table,
            list(RAW_FIELDS),
            [[getattr(r, f) if f != "ts" else _dt(r.ts) for f in RAW_FIELDS] for r in rows],
        )


def _copy_readings(rows: list[RawRow]) -> None:
    """COPY rows into heat_reading: an order of magnitude faster than INSERT for big batches."""
    buf = io.StringIO()
    for r in rows:
        buf.write(
            f"{r.meter_id}\t{r.ts.isoformat()}\t{r.supply_c!r}\t{r.return_c!r}\t{r.flow_m3h!r}\t"
            f"{r.power_kw!r}\t{r.energy_register_kwh!r}\t{r.energy_kwh!r}\t{r.status}\t{r.flags}\n"
        )
    sql = f"COPY {Reading._meta.db_table} ({', '.join(RAW_FIELDS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write(buf.getvalue())


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
ROLLUP_FIRST = ("first_ts", "register_first_kwh", "cumulative_first_kwh")
ROLLUP_LAST = ("last_ts", "register_last_kwh", "cumulative_last_kwh")


def _dt(value: datetime | None) -> Any:
    return connection.ops.adapt_datetimefield_value(value) if value is not None else None


CHUNK_ROWS = 500  # rows per multi-row statement (SQLite allows 32 766 bound variables)
_PG_TYPES = {
    "status": "text",
    "last_ts": "timestamptz",
    "register_changed_at": "timestamptz",
    "rebased": "boolean",
    "last_error": "text",
    "meter_id": "bigint",
}


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


def _update_states(states: list[MeterState]) -> None:
    """UPDATE ... FROM (VALUES ...) in chunks on PostgreSQL, executemany on SQLite.

    Django's bulk_update builds CASE chains per field that cost seconds for 1000 meters.
    """
    table = MeterState._meta.db_table
    cols = [*STATE_FIELDS, "meter_id"]
    pg = connection.vendor == "postgresql"
    cast = [f"::{_PG_TYPES.get(c, 'double precision')}" if pg else "" for c in cols]
    sets = ", ".join(f"{c} = v.{c}" for c in STATE_FIELDS)
    rows = [
        [_dt(v) if isinstance(v, datetime) else v for v in (getattr(st, c) for c in cols)]
        for st in states
    ]
    with connection.cursor() as cursor:
        if not pg:
            # SQLite runs in-process: per-row statements cost no round trip.
            one_row = ", ".join(f"{c} = %s" for c in STATE_FIELDS)
            sql = f"UPDATE {table} SET {one_row} WHERE meter_id = %s"  # noqa: S608
            cursor.executemany(sql, rows)
            return
        for chunk in _chunks(rows):
            one = "(" + ", ".join(f"%s{c}" for c in cast) + ")"
            values = ", ".join([one] * len(chunk))
            alias = ", ".join(cols)
            # Identifiers come from our own constants, values are bound parameters.
            sql = (
                f"UPDATE {table} SET {sets} FROM (VALUES {values}) AS v ({alias}) "  # noqa: S608
                f"WHERE {table}.meter_id = v.meter_id"
            )
            cursor.execute(sql, [v for row in chunk for v in row])


def _upsert_rollups(
    model: type[HourlyRollup] | type[DailyRollup],
    sums: dict[tuple[int, datetime], Sums],
    meters: dict[int, HeatMeter],
    day_field: str | None,
) -> None:
    """INSERT ... ON CONFLICT DO UPDATE merging the new sums into existing buckets.

    The same statement works on PostgreSQL and SQLite (3.24+). Sums add; first/last values
    keep the earliest/latest reading; min/max ignore NULLs.
    """
    if not sums:
        return
    table = model._meta.db_table
    cols = ["meter_id", "site_id", "bucket_start", *ROLLUP_SUMS, *ROLLUP_FIRST, *ROLLUP_LAST,
            "supply_min_c", "supply_max_c"]  # fmt: skip
    if day_field:
        cols.append(day_field)
    updates = [f"{c} = {table}.{c} + EXCLUDED.{c}" for c in ROLLUP_SUMS]
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
    suffix = f"ON CONFLICT (meter_id, bucket_start) DO UPDATE SET {', '.join(updates)}"
    params = []
    for (mid, start), s in sums.items():
        row = [mid, meters[mid].site_id, _dt(start)]
        row += [getattr(s, c) for c in ROLLUP_SUMS]
        row += [_dt(s.first_ts), s.register_first_kwh, s.cumulative_first_kwh]
        row += [_dt(s.last_ts), s.register_last_kwh, s.cumulative_last_kwh]
        row += [s.supply_min_c, s.supply_max_c]
        if day_field:
            day = start.astimezone(meters[mid].site.tzinfo).date()
            row.append(connection.ops.adapt_datefield_value(day))
        params.append(row)
    _insert_values(table, cols, params, suffix)


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
