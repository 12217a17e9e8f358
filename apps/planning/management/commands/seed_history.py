"""Seed plausible heat (with registers) and electricity history for every site, up to now.

    manage.py seed_history --days 365 [--now ISO-DATETIME | --end YYYY-MM-DD] [--seed 1]

For each site's current heat meter and each site, for the ``--days`` local days before today
(in the operator's time zone) and today up to now (``--now``, default the clock), at the
granularity live storage keeps (docs/heat-storage.md):

* days before the last 24 hours: one ``heat.DailyRollup`` per local day;
* the days the last 24 hours touch: ``heat.HourlyRollup`` rows for their (UTC) hours, up to
  the current hour, and the day's rollup, their sum, so the "last 24 hours" chart and the
  site page's "today" read the same heat as the comparison;
* the current hour: raw readings every 10 s up to now, stored by ``heat.ingest`` (the one way
  readings enter storage), which books them into the hour and the day and sets the meter's
  state; so the first live reading continues the seeded register and today is covered;
* one ``hardware.ElectricalDaily`` per site and day (today: so far).

With ``--end``, the ``--days`` whole days before that date are seeded as daily rollups only, as
history always was before there was a present to meet (benchmarks, tests of past periods).

The figures are consistent with each other (energy = mean power x the span, coverage gaps on
a few days before today, supply temperatures around the contract, electricity = heat /
efficiency, 10 % of the sites on nominal power) and deterministic for a seed and a ``--now``.

The rollups are what statements, the site page and the comparison all read, so they carry the
meter's register as well as the energy: each bucket's ``energy_kwh`` is the increase of a
cumulative register chain (on the register's resolution, wrapped at its rollover), booked in
the bucket of the reading like live ingestion books it; a day before today without readings
(0.5 % of them) leaves its heat to the next day with readings. The heat selectors read the register
of the last reading before a period from the rollups when no raw reading is older.

Live data is never overwritten. For a meter that has raw readings (live ones, or the current
hour a previous run seeded), only the days before its first reading and after its last one
are seeded: the chain before ends exactly where the live one begins, the chain after continues
from the meter's state. A day with live data is kept whole, so running the command again (every
``make demo`` does) changes nothing already stored from the first raw reading on. When the
seeded chain is the meter's latest data, ``heat.MeterState`` is its last reading, so the next
live reading continues it and the lab's meters resume from it (``apps.lab.meters.resume``): no
register ever goes backwards between history and live data. Existing seeded days are replaced.
The monthly comparison cache of the months touched is refreshed at the end. PostgreSQL gets
binary COPY; other databases bulk inserts.
"""

from __future__ import annotations

import time
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.hardware.models import ElectricalDaily
from apps.heat import physics
from apps.heat.buckets import day_bucket, hour_bucket, split_interval
from apps.heat.ingest import ingest_readings
from apps.heat.meters import MeterReading, register_map
from apps.heat.models import DailyRollup, HourlyRollup, MeterState, Reading
from apps.planning.services import next_month, site_months_refresh
from apps.sites.models import HeatMeter, Node, Site

ROLLUP_COLS = (
    "meter_id", "site_id", "bucket_start", "readings", "first_ts", "last_ts",
    "register_first_kwh", "register_last_kwh", "cumulative_first_kwh", "cumulative_last_kwh",
    "energy_kwh", "energy_power_kwh", "covered_s", "supply_ok_s", "supply_below_s",
    "supply_min_c", "supply_max_c", "supply_sum_c", "return_sum_c", "flow_sum_m3h",
    "power_sum_kw",
)  # fmt: skip
ROLLUP_TYPES = ("bigint", "bigint", "timestamptz", "int4", "timestamptz", "timestamptz",
                *["float8"] * 15)  # fmt: skip
HEAT_COLS = (*ROLLUP_COLS[:2], "day", *ROLLUP_COLS[2:])
HEAT_TYPES = (*ROLLUP_TYPES[:2], "date", *ROLLUP_TYPES[2:])
ELEC_COLS = ("site_id", "day", "energy_kwh", "measured_kwh", "nominal_kwh", "measured_s",
             "nominal_s", "covered_s")  # fmt: skip
ELEC_TYPES = ("bigint", "date", *["float8"] * 6)
POLL_S = 10.0
NEVER = 10**7  # an ordinal past any date: "no live data"
# The days this close to now get hourly rollups (the site page's "last 24 hours" chart).
RECENT = timedelta(hours=24)
INGEST_METERS = 200  # meters per ingestion call of the current hour's readings


@dataclass
class Live:
    """What a meter's live data pins: the days to keep and the chain ends to meet."""

    first_day: date  # local day of the first raw reading
    last_day: date  # local day of the meter's last accepted reading (its state)
    before_cumulative: float  # cumulative register just before the first raw reading
    before_register: float
    after_cumulative: float  # the state the next reading continues from
    after_register: float


class Command(BaseCommand):
    help = "Bulk-creates plausible heat (with registers) and electrical history up to now."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument(
            "--now",
            type=datetime.fromisoformat,
            default=None,
            help="Seed up to this instant (ISO 8601 with offset; default: the clock).",
        )
        parser.add_argument(
            "--end",
            type=date.fromisoformat,
            default=None,
            help="Seed whole days before this date instead, daily rollups only.",
        )
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, days, now, end, seed, **options):
        if not 1 <= days <= 3660:
            raise CommandError("--days must be between 1 and 3660")
        if now is not None and end is not None:
            raise CommandError("--now and --end exclude each other")
        if now is not None and now.tzinfo is None:
            raise CommandError("--now must carry a UTC offset")
        started = time.perf_counter()
        sites = list(
            Site.objects.order_by("id").values_list(
                "id", "timezone", "nominal_capacity_kw", "contract_min_supply_c"
            )
        )
        until = None
        if end is None:
            until = now or timezone.now()
            today = timezone.localdate(until)
            start = today - timedelta(days=days)
            # Every site's local today, wherever it is: the last day some site has begun.
            zones = {zoneinfo.ZoneInfo(s[1]) for s in sites}
            end = max([today, *(until.astimezone(tz).date() for tz in zones)]) + timedelta(1)
        else:
            start = end - timedelta(days=days)
        meters: dict[int, tuple[int, str]] = {}
        for site_id, meter_id, model in (
            HeatMeter.objects.filter(removed_at__isnull=True)
            .order_by("site_id", "id")
            .values_list("site_id", "id", "model")
        ):
            meters[site_id] = (meter_id, model)  # the newest current meter of the site
        nodes: dict[int, int] = {}
        for site_id in Node.objects.values_list("site_id", flat=True):
            nodes[site_id] = nodes.get(site_id, 0) + 1
        n_heat = n_hourly = n_elec = n_raw = 0
        with transaction.atomic():
            live = self._live(sites, meters)
            self._delete(sites, meters, live, start, end)
            plan = _Plan(sites, meters, nodes, live, start, (end - start).days, seed, until)
            for heat, hourly, elec in plan.rows():
                self._write(DailyRollup, HEAT_COLS, HEAT_TYPES, heat)
                self._write(HourlyRollup, ROLLUP_COLS, ROLLUP_TYPES, hourly)
                self._write(ElectricalDaily, ELEC_COLS, ELEC_TYPES, elec)
                n_heat += len(heat)
                n_hourly += len(hourly)
                n_elec += len(elec)
            states = plan.states()
            self._save_states(states)
            n_raw = self._ingest(plan)
        # The days just written replace any cached month they touch.
        months, month = [], start.replace(day=1)
        while month < end:
            months.append(month)
            month = next_month(month)
        site_months_refresh(months=months, now=until)
        took = time.perf_counter() - started
        upto = f"to {until.isoformat(timespec='seconds')}" if until else f"to {end - timedelta(1)}"
        self.stdout.write(
            f"{n_heat} daily and {n_hourly} hourly heat rollups, {n_raw} readings and {n_elec} "
            f"electrical days ({start} {upto}), {len(live)} meters with live data kept, "
            f"{len(states)} meter states set, {len(months)} months cached, in {took:.1f} s"
        )

    def _live(self, sites, meters) -> dict[int, Live]:
        """Meters with raw readings (only meters with a state can have some: one probe each)."""
        tz_of = {s[0]: zoneinfo.ZoneInfo(s[1]) for s in sites}
        site_of = {meter_id: site_id for site_id, (meter_id, _) in meters.items()}
        out: dict[int, Live] = {}
        states = MeterState.objects.filter(meter_id__in=list(site_of), last_ts__isnull=False)
        for state in states.select_for_update().order_by("meter_id"):
            first = Reading.objects.filter(meter_id=state.meter_id).order_by("ts").first()
            if first is None:
                continue  # a state a previous seeding set: that history is replaced
            tz = tz_of[site_of[state.meter_id]]
            first_day = first.ts.astimezone(tz).date()
            # The first live day's rollup books every increase of that day, the first live
            # reading's included: the chain before must end where that day starts.
            day = DailyRollup.objects.filter(meter_id=state.meter_id, day=first_day).first()
            if day is not None and day.cumulative_last_kwh is not None:
                before_cum = day.cumulative_last_kwh - day.energy_kwh
                before_reg = (day.register_last_kwh or 0.0) - day.energy_kwh
            else:
                before_cum, before_reg = first.energy_kwh, first.energy_register_kwh
            out[state.meter_id] = Live(
                first_day=first_day,
                last_day=state.last_ts.astimezone(tz).date(),
                before_cumulative=before_cum,
                before_register=before_reg,
                after_cumulative=state.last_energy_kwh or 0.0,
                after_register=state.register_baseline_kwh or 0.0,
            )
        return out

    def _delete(self, sites, meters, live, start, end) -> None:
        """Seeded days of the current meters (and their sites' electricity) go; live days stay.

        Hourly rollups are deleted over the same local days (hours from UTC instants); live
        ingestion writes them along with raw rows, so a meter without raw rows has only seeded
        ones."""
        tz_of = {s[0]: zoneinfo.ZoneInfo(s[1]) for s in sites}
        seeded_meters = [m for m, _ in meters.values() if m not in live]
        live_sites = {s for s, (m, _) in meters.items() if m in live}
        in_range = Q(day__gte=start, day__lt=end)
        DailyRollup.objects.filter(in_range, meter_id__in=seeded_meters).delete()
        ElectricalDaily.objects.filter(in_range).exclude(site_id__in=live_sites).delete()
        by_zone: dict[zoneinfo.ZoneInfo, list[int]] = {}
        for site_id, (meter_id, _) in meters.items():
            if meter_id not in live:
                by_zone.setdefault(tz_of[site_id], []).append(meter_id)
        for tz, ids in by_zone.items():
            HourlyRollup.objects.filter(
                meter_id__in=ids, bucket_start__gte=_midnight(start, tz),
                bucket_start__lt=_midnight(end, tz),
            ).delete()  # fmt: skip
        for site_id, (meter_id, _) in meters.items():
            pinned = live.get(meter_id)
            if pinned is None:
                continue
            outside = Q(day__lt=pinned.first_day) | Q(day__gt=pinned.last_day)
            DailyRollup.objects.filter(in_range & outside, meter_id=meter_id).delete()
            ElectricalDaily.objects.filter(in_range & outside, site_id=site_id).delete()
            tz = tz_of[site_id]
            kept = (_midnight(pinned.first_day, tz), _midnight(pinned.last_day + timedelta(1), tz))
            HourlyRollup.objects.filter(
                Q(bucket_start__lt=kept[0]) | Q(bucket_start__gte=kept[1]), meter_id=meter_id,
                bucket_start__gte=_midnight(start, tz), bucket_start__lt=_midnight(end, tz),
            ).delete()  # fmt: skip

    def _save_states(self, states: dict[int, dict]) -> None:
        if not states:
            return
        fields = list(next(iter(states.values())))
        MeterState.objects.bulk_create(
            [MeterState(meter_id=meter_id, **values) for meter_id, values in states.items()],
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["meter"],
            update_fields=fields,
        )

    def _ingest(self, plan: _Plan) -> int:
        """The current hour's readings, through the one way readings enter storage: stored,
        booked into their hour and day, and the meter state moved to the last one."""
        ids, stored = sorted(plan.tails), 0
        for i in range(0, len(ids), INGEST_METERS):
            result = ingest_readings({m: plan.readings(m) for m in ids[i : i + INGEST_METERS]})
            if result.rejected:
                # Seeded readings continue the seeded chain: a rejection is a bug here.
                why = {m: r.rejected[0] for m, r in result.meters.items() if r.rejected}
                raise CommandError(f"seeded readings rejected: {why}")
            stored += result.accepted
        return stored

    def _write(self, model, cols, types, rows):
        if not rows:
            return
        table = model._meta.db_table
        if connection.vendor == "postgresql":
            sql = f"COPY {table} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)"
            with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
                copy.set_types(list(types))
                for row in rows:
                    copy.write_row(row)
            return
        model.objects.bulk_create(
            [model(**dict(zip(cols, row, strict=True))) for row in rows], batch_size=2000
        )


def _midnight(day: date, tz: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant a local day starts."""
    return day_bucket(datetime(day.year, day.month, day.day, 12, tzinfo=tz), tz)[0]


@dataclass
class _Day:
    """One day of every site, as ``_Plan._days`` draws it (arrays are per site)."""

    day: date
    edges: list[tuple[datetime, datetime]]  # per zone: the local day in UTC
    rollup_end: list[datetime]  # per zone: rollups cover [day start, this); raw readings after
    seconds: np.ndarray  # the day's length
    rollup_s: np.ndarray  # the part booked in rollups
    span_s: np.ndarray  # the part seeded (today: up to now)
    seeded: np.ndarray
    present: np.ndarray  # seeded with rollup readings
    hourly: np.ndarray  # recent: hourly rollups too
    partial: np.ndarray  # today: raw readings up to now follow the rollups
    counts: np.ndarray  # register counts the day's rollups book
    carry: np.ndarray  # heat not booked yet after them (kWh)
    f: dict[str, np.ndarray]


@dataclass(frozen=True)
class _Tail:
    """Where a meter's raw readings of today start: after its last rollup reading."""

    site: int  # index in the plan
    start: datetime
    power_kw: float
    supply_c: float
    carry: float  # heat not booked yet (kWh)
    register: int  # counts


class _Plan:
    """The seeded days of every site, drawn one day at a time for all sites (numpy), twice:
    a first pass adds up the heat booked on the days before each meter's live data, so the
    chain there ends exactly where the live one begins; the second (same draws) makes rows.
    A year of 10,000 sites never sits in memory at once.

    Registers are kept as counts of the register's resolution, so a seeded register is exactly
    the number the meter adapter decodes (count x scale) and the first live reading after it
    compares equal, never a float's breadth below."""

    def __init__(self, sites, meters, nodes, live, start, days, seed, until=None) -> None:
        self.sites, self.start, self.days, self.seed = sites, start, days, seed
        self.until = until
        self.n = len(sites)
        self.ids = [int(s[0]) for s in sites]
        names = sorted({s[1] for s in sites})
        self.zones = [zoneinfo.ZoneInfo(name) for name in names]
        self.zone_of = np.array([names.index(s[1]) for s in sites], dtype=np.int64)
        self.meter = [meters.get(s) for s in self.ids]
        self.n_nodes = np.array([nodes.get(s, 0) for s in self.ids])
        self.pinned = [live.get(m[0]) if m else None for m in self.meter]
        maps = [register_map(m[1]) if m else None for m in self.meter]
        self.scale = [m.fields["energy_kwh"].scale if m else 0.1 for m in maps]
        self.res = np.array(self.scale)
        self.wrap = [round(m.rollover_kwh / m.fields["energy_kwh"].scale) if m else 0 for m in maps]
        self.first_live = np.array([p.first_day.toordinal() if p else NEVER for p in self.pinned])
        self.last_live = np.array([p.last_day.toordinal() if p else -NEVER for p in self.pinned])
        self.latest: dict[int, dict] = {}
        self.tails: dict[int, _Tail] = {}

    def _bounds(self, day: date):
        """Per zone: the day's edges, where its rollups end, whether it has begun, is recent
        (hourly rollups) and is today (raw readings after the rollups)."""
        edges = [day_bucket(datetime(day.year, day.month, day.day, 12, tzinfo=tz), tz)
                 for tz in self.zones]  # fmt: skip
        if self.until is None:
            none = np.zeros(len(edges), dtype=bool)
            return edges, [b for _, b in edges], ~none, none, none
        until, current_hour = self.until, hour_bucket(self.until)[0]
        rollup_end = [b if b <= until else max(a, current_hour) for a, b in edges]
        begun = np.array([a < until for a, _ in edges])
        recent = np.array([b > until - RECENT for _, b in edges]) & begun
        today = np.array([a < until < b for a, b in edges])
        return edges, rollup_end, begun, recent, today

    def _days(self):
        """Every day: which sites it is seeded for, which of those have rollup readings, the
        heat each books (register counts) and the day's figures."""
        rng = np.random.default_rng(self.seed)
        n = self.n
        capacity = np.array([float(s[2]) for s in self.sites], dtype=float)
        capacity = np.where(capacity > 0, capacity, 10.0)
        contract = np.array([float(s[3]) for s in self.sites])
        quality = rng.uniform(0.55, 1.0, n)
        efficiency = rng.uniform(0.78, 0.97, n)
        supply_offset = rng.uniform(-4.0, 9.0, n)
        nominal_only = rng.random(n) < 0.1
        origin = rng.uniform(1e4, 1e6, n)
        carry = np.zeros(n)  # heat not booked yet: a day without readings, rounding
        z = self.zone_of
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            season = 0.75 + 0.2 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 15) / 365.25)
            missing = rng.random(n) < 0.005
            gap = rng.random(n) < 0.02
            coverage = np.where(gap, rng.uniform(0.4, 0.95, n), 1.0)
            power_kw = capacity * quality * season * rng.uniform(0.93, 1.07, n)
            supply = contract + supply_offset + rng.normal(0, 1.5, n)
            low, high = rng.uniform(1, 6, n), rng.uniform(1, 4, n)
            edges, rollup_end, begun, recent, today = self._bounds(day)
            seconds = np.array([(b - a).total_seconds() for a, b in edges])[z]
            starts = [a for a, _ in edges]
            rollup_s = np.array(
                [(r - a).total_seconds() for a, r in zip(starts, rollup_end, strict=True)]
            )[z]
            span_s = seconds
            if self.until is not None:
                span_s = np.array([max((min(b, self.until) - a).total_seconds(), 0.0)
                                   for a, b in edges])[z]  # fmt: skip
            hourly, partial = recent[z], today[z]
            # Today is read as a running meter is: no missing day, no gap up to now.
            missing &= ~partial
            coverage = np.where(partial, 1.0, coverage)
            ordinal = day.toordinal()
            seeded = ((ordinal < self.first_live) | (ordinal > self.last_live)) & begun[z]
            energy = power_kw * rollup_s / 3600
            # The heat of a day without readings is booked by the next reading, as live
            # ingestion books it; live days end a chain (what they booked is theirs).
            carry = np.where(seeded, carry + energy, 0.0)
            present = seeded & ~missing & (rollup_s > 0)
            counts = np.where(present, np.round(carry / self.res), 0).astype(np.int64)
            carry = carry - counts * self.res
            yield _Day(
                day=day, edges=edges, rollup_end=rollup_end, seconds=seconds,
                rollup_s=rollup_s, span_s=span_s, seeded=seeded, present=present,
                hourly=hourly, partial=partial & seeded, counts=counts, carry=carry.copy(),
                f={"coverage": coverage, "power_kw": power_kw, "supply": supply,
                   "contract": contract, "low": low, "high": high, "efficiency": efficiency,
                   "nominal_only": nominal_only, "origin": origin},
            )  # fmt: skip

    def _before_totals(self) -> np.ndarray:
        """Register counts booked on the seeded days before each meter's live data."""
        total = np.zeros(self.n, dtype=np.int64)
        for d in self._days():
            total += np.where(d.day.toordinal() < self.first_live, d.counts, 0)
        return total

    def rows(self):
        """Per day: its daily rollups, hourly rollups and electrical days (tuples). Where
        today's raw readings start is kept in ``self.tails`` (see ``readings``)."""
        totals = self._before_totals()
        # Cumulative register at the chain's last reading, in counts like the register: on
        # its grid exactly, so a re-run rebuilds the very same numbers.
        cum = np.zeros(self.n, dtype=np.int64)
        reg = np.zeros(self.n, dtype=np.int64)  # the register then, in counts
        in_chain = np.zeros(self.n, dtype=bool)
        for d in self._days():
            before = d.day.toordinal() < self.first_live
            for i in np.flatnonzero(d.seeded & ~in_chain):
                # A chain starts: before live data it ends where live data begins; after it,
                # it continues the meter's state; without live data it starts anywhere.
                p, res = self.pinned[i], self.res[i]
                if p is None:
                    reg[i] = round(d.f["origin"][i] / res)
                    cum[i] = reg[i]
                elif before[i]:
                    cum[i] = round(p.before_cumulative / res) - totals[i]
                    reg[i] = round(p.before_register / res) - totals[i]
                else:
                    cum[i] = round(p.after_cumulative / res)
                    reg[i] = round(p.after_register / res)
            in_chain = d.seeded
            heat, hourly, elec = [], [], []
            for i in np.flatnonzero(d.seeded):
                if self.meter[i] is not None:
                    if d.present[i] and d.hourly[i]:
                        hours, day_row = self._hour_rows(i, d, cum, reg)
                        hourly.extend(hours)
                        heat.append(day_row)
                    elif d.present[i]:
                        heat.append(self._day_row(i, d, cum, reg))
                    if d.partial[i]:
                        self._readings(i, d, reg)
                if self.n_nodes[i]:
                    elec.append(self._elec_row(i, d))
            yield heat, hourly, elec

    def _kwh(self, i: int, count: int) -> float:
        return int(count) * self.scale[i]

    def _register(self, i: int, count: int) -> float:
        wrap = self.wrap[i]
        return (count % wrap if wrap else count) * self.scale[i]

    def _bucket(self, i, d, first_ts, length, covered, readings, count, cum, reg) -> tuple:
        """One rollup's columns after (meter, site[, day]): its readings every ``POLL_S``
        from ``first_ts``, booking ``count`` register steps; moves the chain on."""
        f = d.f
        first_cum, first_reg = self._kwh(i, cum[i]), self._register(i, int(reg[i]))
        booked = int(count) * self.scale[i]
        cum[i] += count
        reg[i] += count
        last_reg = self._register(i, int(reg[i]))
        r = readings
        power, supply = float(f["power_kw"][i]), float(f["supply"][i])
        ok = covered * float(np.clip(0.5 + (supply - f["contract"][i]) / 6.0, 0.0, 1.0))
        last_ts = first_ts + timedelta(seconds=float(length) - POLL_S)
        if d.day.toordinal() > self.last_live[i]:
            # The newest seeded reading of a chain no live reading follows (yet).
            self.latest[self.meter[i][0]] = {
                "last_ts": last_ts, "last_supply_c": supply, "last_return_c": supply - 30,
                "last_flow_m3h": power / 35, "last_power_kw": power,
                "last_energy_kwh": self._kwh(i, cum[i]), "register_baseline_kwh": last_reg,
                "register_changed_at": last_ts, "rebased": False,
            }  # fmt: skip
        return (
            r, first_ts, last_ts, first_reg, last_reg, first_cum, self._kwh(i, cum[i]),
            booked, power * covered / 3600, covered, ok, covered - ok,
            supply - float(f["low"][i]), supply + float(f["high"][i]),
            supply * r, (supply - 30) * r, power / 35 * r, power * r,
        )  # fmt: skip

    def _day_row(self, i, d, cum, reg) -> tuple:
        bucket, length = d.edges[self.zone_of[i]][0], float(d.seconds[i])
        covered = float(length * d.f["coverage"][i])
        r = max(int(covered / POLL_S), 1)
        values = self._bucket(i, d, bucket, length, covered, r, d.counts[i], cum, reg)
        return (self.meter[i][0], self.ids[i], d.day, bucket, *values)

    def _hour_rows(self, i, d, cum, reg) -> tuple[list[tuple], tuple]:
        """A recent day's hourly rollups (UTC hours; today's up to the current hour) and the
        day's rollup, their sum. The day's register steps are spread over its hours."""
        zone = self.zone_of[i]
        start, end = d.edges[zone][0], d.rollup_end[zone]
        pieces = list(split_interval(start, end, hour_bucket))
        total, elapsed, done = float(d.rollup_s[i]), 0.0, 0
        first_cum, first_reg = self._kwh(i, cum[i]), self._register(i, int(reg[i]))
        hours, values = [], []
        for k, (bucket, a, b) in enumerate(pieces):
            length = (b - a).total_seconds()
            elapsed += length
            upto = round(int(d.counts[i]) * elapsed / total)
            covered = length * float(d.f["coverage"][i])  # a gap day's gap, spread evenly
            r = max(round(covered / POLL_S), 1)
            if k == len(pieces) - 1 and d.partial[i]:
                covered -= POLL_S  # the interval to the first raw reading: booked by ingestion
            v = self._bucket(i, d, a, length, covered, r, upto - done, cum, reg)
            done = upto
            values.append(v)
            hours.append((self.meter[i][0], self.ids[i], bucket, *v))
        col = list(zip(*values, strict=True))
        day = (
            sum(col[0]), start, values[-1][2], first_reg, values[-1][4], first_cum,
            self._kwh(i, cum[i]), int(d.counts[i]) * self.scale[i], sum(col[8]), sum(col[9]),
            sum(col[10]), sum(col[11]), min(col[12]), max(col[13]), sum(col[14]),
            sum(col[15]), sum(col[16]), sum(col[17]),
        )  # fmt: skip
        return hours, (self.meter[i][0], self.ids[i], d.day, start, *day)

    def _readings(self, i, d, reg) -> None:
        """Today after the last whole hour is read, not rolled up: what its readings continue
        from, kept until ``readings`` makes them (a fleet's readings never sit in memory)."""
        self.tails[self.meter[i][0]] = _Tail(
            i, d.rollup_end[self.zone_of[i]], float(d.f["power_kw"][i]),
            float(d.f["supply"][i]), float(d.carry[i]), int(reg[i]),
        )  # fmt: skip

    def readings(self, meter_id: int) -> list[MeterReading]:
        """A meter's readings every ``POLL_S`` from the end of its rollups to now, continuing
        the register (with the heat not booked yet), ready for ingestion."""
        t = self.tails[meter_id]
        rng = np.random.default_rng([self.seed, meter_id])
        carry, reg, res = t.carry, t.register, float(self.res[t.site])
        ts, out = t.start, []
        while ts < self.until:
            p = t.power_kw * float(rng.uniform(0.98, 1.02))
            s = t.supply_c + float(rng.normal(0, 0.2))
            carry += p * POLL_S / 3600  # the heat since the previous reading
            count = round(carry / res)
            carry -= count * res
            reg += count
            out.append(MeterReading(
                supply_c=s, return_c=s - 30, flow_m3h=physics.flow_for_power_m3h(p, s, s - 30),
                power_kw=p, energy_kwh=self._register(t.site, reg), read_at=ts,
            ))  # fmt: skip
            ts += timedelta(seconds=POLL_S)
        return out

    def _elec_row(self, i, d) -> tuple:
        f, length = d.f, float(d.span_s[i])
        seconds = float(self.n_nodes[i] * length * f["coverage"][i])
        kwh = float(f["power_kw"][i] * length / 3600 / f["efficiency"][i])
        if f["nominal_only"][i]:
            return (self.ids[i], d.day, kwh, 0.0, kwh, 0.0, seconds, seconds)
        return (self.ids[i], d.day, kwh, kwh, 0.0, seconds, 0.0, seconds)

    def states(self) -> dict[int, dict]:
        """Meter states to set: meters whose newest data is now a seeded reading."""
        return self.latest
