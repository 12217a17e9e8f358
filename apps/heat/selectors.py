"""Reads for heat: energy and coverage over periods, chart series, statements, summaries.

All periods are half-open ``[start, end)`` with aware datetimes; calendar periods (days,
months, years) are in the site's local time and converted to UTC for the queries.

Definitions (docs/heat-storage.md has the reasoning):

* Energy delivered by a meter in [start, end) = the register increases booked by its readings
  in [start, end) (each reading books its increase over its predecessor), i.e. the ``energy_kwh``
  of its rollups, as the planners' comparison sums them. With the register chain consistent
  (ingestion and ``seed_history`` keep it so) that is also the cumulative register at its last
  reading before ``end`` minus the same before ``start`` (or, for a meter first read inside the
  period, its first reading): the boundary readings statements print. Summed over the site's
  meters, so a replaced meter and its successor each contribute their own part. Nothing is
  interpolated. A meter never read before ``end`` has no energy figure (None, not 0); a site
  total is None when none of its meters has one.
* A reading is a raw ``Reading``, or a rollup's first or last reading (``first_ts`` /
  ``last_ts`` with its registers) where history was seeded without raw rows.
* Coverage = seconds covered by consecutive readings no further apart than the gap limit,
  over the period length (times the number of meters read in parallel, if a site has several).
* Hours at/above and below the contracted minimum supply temperature count covered time only.
* Availability = time at or above the contracted minimum / covered time.
* Over a period without covered time those three are unknown (None): no reading proves the
  supply was above or below the contract, so neither 0 h nor 100 % is true.

Sums over a period are assembled from daily rollups for whole local days, hourly rollups for
whole hours and raw readings for the ragged edges, so any period is exact and year-long ones
touch a few hundred rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from django.db.models import Max, Min, Sum
from django.utils.translation import gettext

from apps.sites.models import HeatMeter, Site

from .alarm_text import alarm_detail
from .buckets import Sums, day_bucket, hour_bucket, max_gap_s
from .models import DailyRollup, HeatAlarm, HourlyRollup, MeterState, QualityFlag, Reading

Resolution = Literal["raw", "hour", "day"]
MAX_RAW_SPAN = timedelta(days=7)
MAX_HOUR_SPAN = timedelta(days=366)
MAX_DAY_SPAN = timedelta(days=3660)
RAW_KEYS = ("supply_c", "return_c", "flow_m3h", "power_kw", "energy_kwh")
SUM_FIELDS = ("energy_kwh", "energy_power_kwh", "covered_s", "supply_ok_s", "supply_below_s")


class HeatQueryError(ValueError):
    """Bad query parameters (unknown resolution, reversed or unbounded range, impossible month).

    The message is the reason, fit to return to an API client with a 400.
    """


def _check_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    if start is None or end is None:
        raise HeatQueryError(gettext("both start and end are required"))
    if start.tzinfo is None or end.tzinfo is None:
        raise HeatQueryError("start and end must carry a time zone")
    if end <= start:
        raise HeatQueryError(gettext("end must be after start"))
    return start.astimezone(UTC), end.astimezone(UTC)


def _meters(site_id: int, start: datetime, end: datetime) -> list[HeatMeter]:
    """The site's meters installed at some point of [start, end)."""
    meters = HeatMeter.objects.filter(site_id=site_id).order_by("installed_at", "id")
    return [
        m
        for m in meters
        if (m.installed_at is None or m.installed_at < end)
        and (m.removed_at is None or m.removed_at > start)
    ]


def _max_parallel(meters: list[HeatMeter], start: datetime, end: datetime) -> int:
    events = []
    for m in meters:
        events.append((max(m.installed_at or start, start), 1))
        events.append((min(m.removed_at or end, end), -1))
    best = current = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        current += delta
        best = max(best, current)
    return max(best, 1)


# --- period sums -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterReadingAt:
    """A meter's reading at a period boundary: when, its register as the meter showed it, and
    the cumulative register (monotonic across rollovers) energy is measured on."""

    ts: datetime
    energy_register_kwh: float
    energy_kwh: float


@dataclass
class MeterPeriod:
    """One meter over one period. ``energy_kwh`` is None when the meter has no reading before
    the period's end: unknown, not zero."""

    meter_id: int
    serial: str
    start_reading: MeterReadingAt | None = None
    end_reading: MeterReadingAt | None = None
    sums: Sums = field(default_factory=Sums)

    @property
    def energy_kwh(self) -> float | None:
        return None if self.end_reading is None else self.sums.energy_kwh


def _reading_before(meter_id: int, ts: datetime) -> MeterReadingAt | None:
    """The meter's last reading before ``ts``: raw, or the last one of a rollup hour or day
    (seeded history has rollups without raw rows: days, and hours for its most recent part)."""
    candidates = []
    raw = (
        Reading.objects.filter(meter_id=meter_id, ts__lt=ts)
        .order_by("-ts")
        .values_list("ts", "energy_register_kwh", "energy_kwh")
        .first()
    )
    if raw is not None:
        candidates.append(MeterReadingAt(*raw))
    for model in (HourlyRollup, DailyRollup):
        # The bucket holding ``ts`` may end after it: then the one before holds the reading.
        buckets = (
            model.objects.filter(
                meter_id=meter_id, bucket_start__lt=ts, readings__gt=0, last_ts__isnull=False
            )
            .order_by("-bucket_start")
            .values_list("last_ts", "register_last_kwh", "cumulative_last_kwh")[:2]
        )
        for last_ts, register, cumulative in buckets:
            if last_ts < ts and register is not None and cumulative is not None:
                candidates.append(MeterReadingAt(last_ts, register, cumulative))
                break
    return max(candidates, key=lambda r: r.ts, default=None)


def _first_reading_in(meter_id: int, start: datetime, end: datetime) -> MeterReadingAt | None:
    """The meter's first reading in [start, end): raw, or the first one of a rollup day."""
    candidates = []
    raw = (
        Reading.objects.filter(meter_id=meter_id, ts__gte=start, ts__lt=end)
        .order_by("ts")
        .values_list("ts", "energy_register_kwh", "energy_kwh")
        .first()
    )
    if raw is not None:
        candidates.append(MeterReadingAt(*raw))
    day = (
        DailyRollup.objects.filter(
            meter_id=meter_id, first_ts__gte=start, first_ts__lt=end, readings__gt=0
        )
        .order_by("bucket_start")
        .values_list("first_ts", "register_first_kwh", "cumulative_first_kwh")
        .first()
    )
    if day is not None and day[1] is not None and day[2] is not None:
        candidates.append(MeterReadingAt(*day))
    return min(candidates, key=lambda r: r.ts, default=None)


def _boundary_readings(
    meter_id: int, start: datetime, end: datetime
) -> tuple[MeterReadingAt | None, MeterReadingAt | None]:
    before = _reading_before(meter_id, start) or _first_reading_in(meter_id, start, end)
    last = _reading_before(meter_id, end)
    # No reading inside the period: what the meter did in it is unknown, not zero.
    if before is None or last is None or last.ts < before.ts or last.ts < start:
        return None, None
    return before, last


def _raw_sums(meter_id: int, start: datetime, end: datetime, contract: float) -> Sums:
    """Energy booked, coverage and integrals over [start, end) straight from raw readings."""
    gap = timedelta(seconds=max_gap_s())
    prev = Reading.objects.filter(meter_id=meter_id, ts__lt=start).order_by("-ts").first()
    inside = list(
        Reading.objects.filter(meter_id=meter_id, ts__gte=start, ts__lt=end).order_by("ts")
    )
    after = Reading.objects.filter(meter_id=meter_id, ts__gte=end).order_by("ts").first()
    chain = [r for r in (prev, *inside, after) if r is not None]
    sums = Sums()
    if inside:
        # What the readings inside booked: the increase since their predecessor, which may be
        # the last reading of seeded history (a rollup, no raw row); a meter's first reading
        # books nothing.
        first = inside[0]
        before = None if first.flags & QualityFlag.FIRST else _reading_before(meter_id, first.ts)
        base = first.energy_kwh if before is None else before.energy_kwh
        sums.energy_kwh = inside[-1].energy_kwh - base
    for a, b in itertools.pairwise(chain):
        if b.ts - a.ts > gap:
            continue
        lo, hi = max(a.ts, start), min(b.ts, end)
        if hi <= lo:
            continue
        total = (b.ts - a.ts).total_seconds()
        fa = (lo - a.ts).total_seconds() / total
        fb = (hi - a.ts).total_seconds() / total
        pa = a.power_kw + (b.power_kw - a.power_kw) * fa
        pb = a.power_kw + (b.power_kw - a.power_kw) * fb
        seconds = (hi - lo).total_seconds()
        sums.add_piece(seconds, (pa + pb) / 2 * seconds / 3600, a.supply_c >= contract)
    return sums


def _rollup_sums(model: Any, meter_id: int, start: datetime, end: datetime) -> Sums:
    agg = model.objects.filter(
        meter_id=meter_id, bucket_start__gte=start, bucket_start__lt=end
    ).aggregate(**{f: Sum(f) for f in SUM_FIELDS})
    sums = Sums()
    for f in SUM_FIELDS:
        setattr(sums, f, agg[f] or 0.0)
    return sums


def _add(total: Sums, part: Sums) -> None:
    for f in SUM_FIELDS:
        setattr(total, f, getattr(total, f) + getattr(part, f))


def _period_sums(meter: HeatMeter, site: Site, start: datetime, end: datetime) -> Sums:
    """Layered: daily rollups for whole local days, hourly for whole hours, raw for the rest."""
    tz = site.tzinfo
    contract = float(site.contract_min_supply_c)
    total = Sums()
    d0 = day_bucket(start, tz)[0]
    if d0 < start:
        d0 = day_bucket(start, tz)[1]
    d1 = day_bucket(end, tz)[0]
    edges: list[tuple[datetime, datetime]] = []
    if d0 < d1:
        _add(total, _rollup_sums(DailyRollup, meter.id, d0, d1))
        edges = [(start, d0), (d1, end)]
    else:
        edges = [(start, end)]
    for a, b in edges:
        if b <= a:
            continue
        h0 = hour_bucket(a)[0]
        if h0 < a:
            h0 = hour_bucket(a)[1]
        h1 = hour_bucket(b)[0]
        if h0 < h1:
            _add(total, _rollup_sums(HourlyRollup, meter.id, h0, h1))
            raw = [(a, h0), (h1, b)]
        else:
            raw = [(a, b)]
        for ra, rb in raw:
            if rb > ra:
                _add(total, _raw_sums(meter.id, ra, rb, contract))
    return total


def contract_hours(sums: Sums) -> tuple[float | None, float | None]:
    """Hours at/above and below the contracted supply temperature; unknown (None, None) when
    no second of the period is covered by readings."""
    if not sums.covered_s:
        return None, None
    return sums.supply_ok_s / 3600, sums.supply_below_s / 3600


@dataclass
class PeriodEnergy:
    """Heat delivered by a site over a period, with the figures that qualify it.
    ``energy_kwh`` is None when no meter of the site has a reading before the period's end;
    contract hours and availability are None when no time of the period is covered."""

    start: datetime
    end: datetime
    energy_kwh: float | None
    energy_power_kwh: float
    coverage: float
    hours_at_or_above: float | None
    hours_below: float | None
    meters: list[MeterPeriod]

    @property
    def availability(self) -> float | None:
        if self.hours_at_or_above is None or self.hours_below is None:
            return None
        covered = self.hours_at_or_above + self.hours_below
        return self.hours_at_or_above / covered if covered else None


def site_energy(site_id: int, start: datetime, end: datetime) -> PeriodEnergy:
    """Energy, power-integrated energy, coverage and contract hours of a site in [start, end)."""
    start, end = _check_range(start, end)
    site = Site.objects.get(pk=site_id)
    meters = _meters(site_id, start, end)
    parts = []
    total = Sums()
    known = []
    for m in meters:
        # A meter's readings outside its installed interval cannot exist (it was not there),
        # so clipping the period to the interval only matters for coverage.
        mstart = max(start, m.installed_at) if m.installed_at else start
        mend = min(end, m.removed_at) if m.removed_at else end
        part = MeterPeriod(m.id, m.serial)
        part.start_reading, part.end_reading = _boundary_readings(m.id, mstart, mend)
        part.sums = _period_sums(m, site, mstart, mend)
        _add(total, part.sums)
        if part.energy_kwh is not None:
            known.append(part.energy_kwh)
        parts.append(part)
    span = (end - start).total_seconds() * _max_parallel(meters, start, end)
    hours_ok, hours_below = contract_hours(total)
    return PeriodEnergy(
        start=start,
        end=end,
        # A total of unknowns is unknown; a meter never read adds nothing known to the others.
        energy_kwh=sum(known) if known else None,
        energy_power_kwh=total.energy_power_kwh,
        coverage=min(total.covered_s / span, 1.0),
        hours_at_or_above=hours_ok,
        hours_below=hours_below,
        meters=parts,
    )


# --- series ----------------------------------------------------------------------------------


def site_series(
    site_id: int, start: datetime, end: datetime, resolution: str
) -> list[dict[str, Any]]:
    """Chart data for a site in [start, end).

    ``raw``: one point per reading (all meters), plus a point with ``None`` values where a
    meter's readings are further apart than the gap limit, so charts break the line there.
    ``hour`` / ``day``: one point per bucket (UTC hour / local day) summed over the site's
    meters; buckets without data up to now appear with ``None`` values and coverage 0.
    """
    if resolution not in ("raw", "hour", "day"):
        raise HeatQueryError(
            gettext("unknown resolution %(resolution)r: use raw, hour or day")
            % {"resolution": resolution}
        )
    start, end = _check_range(start, end)
    limit = {"raw": MAX_RAW_SPAN, "hour": MAX_HOUR_SPAN, "day": MAX_DAY_SPAN}[resolution]
    if end - start > limit:
        raise HeatQueryError(
            gettext("%(resolution)s resolution is limited to %(days)s days")
            % {"resolution": resolution, "days": limit.days}
        )
    if resolution == "raw":
        return _raw_series(site_id, start, end)
    site = Site.objects.get(pk=site_id)
    model = HourlyRollup if resolution == "hour" else DailyRollup
    rows = (
        model.objects.filter(site_id=site_id, bucket_start__gte=start, bucket_start__lt=end)
        .values("bucket_start")
        .annotate(
            energy_kwh=Sum("energy_kwh"),
            energy_power_kwh=Sum("energy_power_kwh"),
            covered_s=Sum("covered_s"),
            readings=Sum("readings"),
            supply_min_c=Min("supply_min_c"),
            supply_max_c=Max("supply_max_c"),
            supply_sum_c=Sum("supply_sum_c"),
            return_sum_c=Sum("return_sum_c"),
            flow_sum_m3h=Sum("flow_sum_m3h"),
            supply_below_s=Sum("supply_below_s"),
        )
        .order_by("bucket_start")
    )
    found = {r["bucket_start"]: r for r in rows}
    tz = site.tzinfo
    bucket = hour_bucket if resolution == "hour" else (lambda ts: day_bucket(ts, tz))
    points = []
    cursor = bucket(start)[0]
    if cursor < start:
        cursor = bucket(start)[1]
    stop = min(end, datetime.now(UTC))
    while cursor < end and (cursor < stop or cursor in found):
        b_start, b_end = bucket(cursor)
        length = (b_end - b_start).total_seconds()
        row = found.get(b_start)
        if row is None:
            points.append(_empty_point(b_start))
        else:
            n = row["readings"] or 0
            covered = row["covered_s"] or 0.0
            points.append(
                {
                    "ts": b_start,
                    "energy_kwh": row["energy_kwh"],
                    "energy_power_kwh": row["energy_power_kwh"],
                    "power_kw": row["energy_power_kwh"] / covered * 3600 if covered else None,
                    "supply_min_c": row["supply_min_c"],
                    "supply_avg_c": row["supply_sum_c"] / n if n else None,
                    "supply_max_c": row["supply_max_c"],
                    "return_avg_c": row["return_sum_c"] / n if n else None,
                    "flow_avg_m3h": row["flow_sum_m3h"] / n if n else None,
                    "hours_below": (row["supply_below_s"] or 0.0) / 3600 if covered else None,
                    "coverage": min(covered / length, 1.0),
                }
            )
        cursor = b_end
    return points


def _empty_point(ts: datetime) -> dict[str, Any]:
    keys = (
        "energy_kwh",
        "energy_power_kwh",
        "power_kw",
        "supply_min_c",
        "supply_avg_c",
        "supply_max_c",
        "return_avg_c",
        "flow_avg_m3h",
        "hours_below",
    )
    return {"ts": ts, **dict.fromkeys(keys), "coverage": 0.0}


def _raw_series(site_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    gap = timedelta(seconds=max_gap_s())
    rows = (
        Reading.objects.filter(meter__site_id=site_id, ts__gte=start, ts__lt=end)
        .order_by("ts")
        .values_list("meter__serial", "ts", *RAW_KEYS)
    )
    last_seen: dict[str, datetime] = {}
    points: list[dict[str, Any]] = []
    for serial, ts, supply, ret, flow, power, energy in rows:
        prev = last_seen.get(serial)
        if prev is not None and ts - prev > gap:
            points.append({"ts": prev + gap, "meter": serial, **dict.fromkeys(RAW_KEYS)})
        last_seen[serial] = ts
        values = (supply, ret, flow, power, energy)
        points.append({"ts": ts, "meter": serial, **dict(zip(RAW_KEYS, values, strict=True))})
    return points


# --- statements and summaries ----------------------------------------------------------------


def month_bounds(site: Site, year: int, month: int) -> tuple[datetime, datetime]:
    """UTC instants of the site's local month [first day 00:00, next first day 00:00)."""
    if not (isinstance(year, int) and isinstance(month, int)):
        raise HeatQueryError("year and month must be integers")
    if not 2000 <= year <= 2200 or not 1 <= month <= 12:
        month_text = f"{year}-{month:02d}"
        raise HeatQueryError(gettext("impossible month %(month)s") % {"month": month_text})
    tz = site.tzinfo
    start = datetime(year, month, 1, tzinfo=tz)
    nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), nxt.astimezone(UTC)


def monthly_statement(site_id: int, year: int, month: int) -> dict[str, Any]:
    """Heat-delivery statement of a site for a local calendar month, one line per meter.

    Register readings are the meter's own (as on its display); energy is what the month's
    readings booked, which equals the difference of the cumulative registers at the two
    readings shown, so a rollover inside the month is accounted for. Unknown stays unknown:
    a meter never read by the month's end has no energy (None), nor does a site none of whose
    meters was.
    """
    site = Site.objects.get(pk=site_id)
    start, end = month_bounds(site, year, month)
    period = site_energy(site_id, start, end)
    lines = []
    for part in period.meters:
        length = _meter_span(part.meter_id, start, end)
        s, e = part.start_reading, part.end_reading
        hours_ok, hours_below = contract_hours(part.sums)
        lines.append(
            {
                "meter_serial": part.serial,
                "start_reading_at": s.ts if s else None,
                "start_register_kwh": s.energy_register_kwh if s else None,
                "end_reading_at": e.ts if e else None,
                "end_register_kwh": e.energy_register_kwh if e else None,
                "energy_kwh": part.energy_kwh,
                "energy_power_kwh": part.sums.energy_power_kwh,
                "coverage": min(part.sums.covered_s / length, 1.0) if length else 0.0,
                "hours_below_contract": hours_below,
                "hours_at_or_above_contract": hours_ok,
            }
        )
    return {
        "site_code": site.code,
        "site_name": site.name,
        "timezone": site.timezone,
        "month": f"{year:04d}-{month:02d}",
        "period_start": start.astimezone(site.tzinfo),
        "period_end": end.astimezone(site.tzinfo),
        "contract_min_supply_c": float(site.contract_min_supply_c),
        "lines": lines,
        "energy_kwh": period.energy_kwh,
        "coverage": period.coverage,
        "hours_below_contract": period.hours_below,
        "hours_at_or_above_contract": period.hours_at_or_above,
    }


def first_reading_at(site_id: int) -> datetime | None:
    """When the site's first reading was taken: raw, or seeded history's first rollup day."""
    raw = Reading.objects.filter(meter__site_id=site_id).aggregate(first=Min("ts"))["first"]
    seeded = DailyRollup.objects.filter(site_id=site_id, readings__gt=0).aggregate(
        first=Min("first_ts")
    )["first"]
    return min((ts for ts in (raw, seeded) if ts is not None), default=None)


def _meter_span(meter_id: int, start: datetime, end: datetime) -> float:
    m = HeatMeter.objects.get(pk=meter_id)
    a = max(start, m.installed_at) if m.installed_at else start
    b = min(end, m.removed_at) if m.removed_at else end
    return max((b - a).total_seconds(), 0.0)


def _year_ago(ts: datetime) -> datetime:
    try:
        return ts.replace(year=ts.year - 1)
    except ValueError:  # 29 February
        return ts.replace(year=ts.year - 1, day=28)


def _period_dict(p: PeriodEnergy) -> dict[str, Any]:
    return {
        "energy_kwh": p.energy_kwh,
        "coverage": p.coverage,
        "hours_at_or_above": p.hours_at_or_above,
        "hours_below": p.hours_below,
        "availability": p.availability,
    }


def site_heat_summary(site_id: int, now: datetime) -> dict[str, Any]:
    """Today, this month and this year so far (local time) against the same spans last year,
    contract hours, availability and the current state of the site's meters.
    """
    if now.tzinfo is None:
        raise HeatQueryError("now must carry a time zone")
    site = Site.objects.get(pk=site_id)
    tz = site.tzinfo
    local = now.astimezone(tz)
    starts = {
        "today": datetime(local.year, local.month, local.day, tzinfo=tz),
        "month": datetime(local.year, local.month, 1, tzinfo=tz),
        "year": datetime(local.year, 1, 1, tzinfo=tz),
    }
    out: dict[str, Any] = {"site_id": site_id, "now": local}
    for name, start in starts.items():
        this = site_energy(site_id, start, local) if start < local else None
        last = site_energy(site_id, _year_ago(start), _year_ago(local)) if start < local else None
        out[name] = _period_dict(this) if this else None
        out[f"{name}_last_year"] = _period_dict(last) if last else None
    contract = float(site.contract_min_supply_c)
    current = []
    for state in MeterState.objects.filter(
        meter__site_id=site_id, meter__removed_at__isnull=True
    ).select_related("meter"):
        current.append(
            {
                "meter_serial": state.meter.serial,
                "status": state.status,
                "at": state.last_ts,
                "power_kw": state.last_power_kw,
                "supply_c": state.last_supply_c,
                "return_c": state.last_return_c,
                "flow_m3h": state.last_flow_m3h,
                "offline_since": state.offline_since,
                "supply_ok": (
                    state.last_supply_c >= contract if state.last_supply_c is not None else None
                ),
            }
        )
    out["current"] = current
    out["contract_min_supply_c"] = contract
    return out


# --- alarms ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlarmRow:
    """One alarm as pages show it. ``meter_serial`` is None whenever the caller asked for the
    partner view (a whitelist: partners never see meter or hardware details)."""

    id: int
    site_id: int
    site_code: str
    site_name: str
    kind: str
    kind_label: str
    raised_at: datetime
    cleared_at: datetime | None
    detail: str
    partner_visible: bool
    meter_serial: str | None

    @property
    def active(self) -> bool:
        return self.cleared_at is None


def _alarm_rows(qs: Any, partner_visible_only: bool, limit: int | None = None) -> list[AlarmRow]:
    qs = qs.select_related("site", "meter")
    if partner_visible_only:
        qs = qs.filter(partner_visible=True)
    if limit is not None:
        qs = qs[:limit]
    return [
        AlarmRow(
            id=a.id,
            site_id=a.site_id,
            site_code=a.site.code,
            site_name=a.site.name,
            kind=a.kind,
            kind_label=a.get_kind_display(),
            raised_at=a.raised_at,
            cleared_at=a.cleared_at,
            detail=alarm_detail(a),
            partner_visible=a.partner_visible,
            meter_serial=None if partner_visible_only or a.meter is None else a.meter.serial,
        )
        for a in qs
    ]


def active_alarms(site_ids: Iterable[int], *, partner_visible_only: bool) -> list[AlarmRow]:
    """Alarms not yet cleared at the given sites, newest first.

    The caller passes the ids of sites the user may see (``apps.accounts.access``) and
    ``partner_visible_only=True`` for partner users.
    """
    qs = HeatAlarm.objects.filter(site_id__in=list(site_ids), cleared_at__isnull=True)
    return _alarm_rows(qs.order_by("-raised_at", "-id"), partner_visible_only)


def alarm_history(
    site_id: int,
    *,
    partner_visible_only: bool,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 200,
) -> list[AlarmRow]:
    """Alarms of one site raised in [start, end) (either bound optional), newest first.

    Active and cleared alarms alike; at most ``limit`` rows (1-1000).
    """
    if not 1 <= limit <= 1000:
        raise HeatQueryError(gettext("limit must be between 1 and 1000"))
    for bound in (start, end):
        if bound is not None and bound.tzinfo is None:
            raise HeatQueryError("start and end must carry a time zone")
    if start is not None and end is not None and end <= start:
        raise HeatQueryError(gettext("end must be after start"))
    qs = HeatAlarm.objects.filter(site_id=site_id)
    if start is not None:
        qs = qs.filter(raised_at__gte=start)
    if end is not None:
        qs = qs.filter(raised_at__lt=end)
    return _alarm_rows(qs.order_by("-raised_at", "-id"), partner_visible_only, limit)
