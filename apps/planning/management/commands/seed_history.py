"""Seed plausible heat (with registers) and electricity history for every site, up to now.

    manage.py seed_history --days 365 [--now ISO-DATETIME | --end YYYY-MM-DD] [--seed 1]
                           [--raw-hours 6] [--raw-meters 500]

For each site's current heat meter and each site, for the ``--days`` local days before today
(in the operator's time zone) and today up to now (``--now``, default the clock), at the
granularity live storage keeps (docs/heat-storage.md):

* days before the last 24 hours: one ``heat.DailyRollup`` per local day;
* the days the last 24 hours touch: ``heat.HourlyRollup`` rows for their (UTC) hours, up to
  the current hour, and the day's rollup, their sum, so the "last 24 hours" chart and the
  site page's "today" read the same heat as the comparison;
* the site page's live window (``--raw-hours``, 6 by default, from the start of the hour it
  begins in; 0 = the current hour only): raw readings every 10 s up to now, stored by
  ``heat.ingest`` (the one way readings enter storage), which books them into their hours and
  days and sets the meter's state; so the live chart is full, the first live reading continues
  the seeded register and today is covered. Readings cost: for large fleets only the first
  ``--raw-meters`` meters (by site id, 500 by default) get the whole window, the others the
  current hour; ingestion goes per batch of at most ``INGEST_READINGS`` readings;
* one ``hardware.ElectricalDaily`` per site and day (today: so far).

With ``--end``, the ``--days`` whole days before that date are seeded as daily rollups only, as
history always was before there was a present to meet (benchmarks, tests of past periods).

The figures are consistent with each other (energy = mean power x the span, coverage gaps on
a few days before today, supply temperatures around the contract, electricity = heat /
efficiency, 10 % of the sites on nominal power) and deterministic for a seed and a ``--now``.

The recent past is what the lab's meter of the site will go on reporting, so live data meets it
without a jump: the hours of the last 24 hours and the raw readings follow the lab's meter model
(:class:`apps.lab.meters.simulation.SimulatedMeter`: supply at its set-point, the return's daily
curve in the site's time zone, the flow from EN 1434 physics, the heat of the servers' load with
its daily swing), at the load ``run_lab`` sets: the draw of the site's nodes at the lab's
default load (:func:`~apps.lab.meters.simulation.site_load_kw`); a site without nodes at the
meter's default, as ``lab_meters`` serves it. Older days keep their seasonal figures and drift
to the lab's daily means over the ``BLEND_DAYS`` before.

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

import math
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
from apps.heat.figures import WINDOWS
from apps.heat.ingest import ingest_readings
from apps.heat.meters import MeterReading, register_map
from apps.heat.models import DailyRollup, HourlyRollup, MeterState, Reading
from apps.lab.meters.simulation import SimClock, SimulatedMeter, site_load_kw
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
# Readings per ingestion call (a fleet's readings never sit in memory at once).
INGEST_READINGS = 72_000
RAW_HOURS = math.ceil(WINDOWS["live"][0] / timedelta(hours=1))  # the live chart: 6 h
RAW_METERS = 500
# Days before the recent ones over which seeded figures drift to the lab meter's.
BLEND_DAYS = 14
LAB_EPOCH = datetime(2000, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC"))
# A rough EN 1434 coefficient (kWh/(m3 K)) for the flow of days before the lab's hours.
K_ROUGH = physics.heat_coefficient(70.0, 45.0)


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
        parser.add_argument(
            "--raw-hours",
            type=int,
            default=RAW_HOURS,
            help="Raw readings for this many hours before now (0-24; 0 = the current hour).",
        )
        parser.add_argument(
            "--raw-meters",
            type=int,
            default=RAW_METERS,
            help="Only this many meters get --raw-hours of readings, the others the current hour.",
        )

    def handle(self, *args, days, now, end, seed, raw_hours=RAW_HOURS, raw_meters=RAW_METERS,
               **options):  # fmt: skip
        if not 1 <= days <= 3660:
            raise CommandError("--days must be between 1 and 3660")
        if not 0 <= raw_hours <= 24:
            raise CommandError("--raw-hours must be between 0 and 24")
        if raw_meters < 0:
            raise CommandError("--raw-meters cannot be negative")
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
        nodes: dict[int, list[tuple[str, float]]] = {}
        for site_id, name, watts in Node.objects.values_list("site_id", "name", "nominal_power_w"):
            nodes.setdefault(site_id, []).append((name, watts))
        counts = {site_id: len(n) for site_id, n in nodes.items()}
        loads = {site_id: site_load_kw(n) for site_id, n in nodes.items()}
        del nodes
        n_heat = n_hourly = n_elec = n_raw = 0
        with transaction.atomic():
            live = self._live(sites, meters)
            self._delete(sites, meters, live, start, end)
            plan = _Plan(sites, meters, counts, live, start, (end - start).days, seed, until,
                         loads=loads, raw_hours=raw_hours, raw_meters=raw_meters)  # fmt: skip
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
        """The raw window's readings, through the one way readings enter storage: stored,
        booked into their hours and days, and the meter state moved to the last one. Made and
        ingested per batch of at most ``INGEST_READINGS`` (or one meter's)."""
        stored, batch, size = 0, [], 0
        for meter_id in [*sorted(plan.tails), None]:
            n = plan.count(meter_id) if meter_id is not None else 0
            if batch and (meter_id is None or size + n > INGEST_READINGS):
                result = ingest_readings({m: plan.readings(m) for m in batch})
                if result.rejected:
                    # Seeded readings continue the seeded chain: a rejection is a bug here.
                    why = {m: r.rejected[0] for m, r in result.meters.items() if r.rejected}
                    raise CommandError(f"seeded readings rejected: {why}")
                stored += result.accepted
                batch, size = [], 0
            if meter_id is not None:
                batch.append(meter_id)
                size += n
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
    rollup_end: list[datetime]  # per group: rollups cover [day start, this); raw readings after
    seconds: np.ndarray  # the day's length
    rollup_s: np.ndarray  # the part booked in rollups
    span_s: np.ndarray  # the part seeded (today: up to now)
    seeded: np.ndarray
    present: np.ndarray  # seeded with rollup readings
    hourly: np.ndarray  # recent: hourly rollups too, figures from the lab's meter model
    partial: np.ndarray  # in the raw window: raw readings (up to now) follow the rollups
    tail: np.ndarray  # the raw window starts in it: the raw readings continue its chain
    counts: np.ndarray  # register counts the day's rollups book
    carry: np.ndarray  # heat not booked yet after them (kWh)
    f: dict[str, np.ndarray]


@dataclass(frozen=True)
class _Tail:
    """Where a meter's raw readings start: after its last rollup reading."""

    site: int  # index in the plan
    start: datetime
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

    def __init__(self, sites, meters, nodes, live, start, days, seed, until=None, *,
                 loads=None, raw_hours=RAW_HOURS, raw_meters=RAW_METERS) -> None:  # fmt: skip
        self.sites, self.start, self.days, self.seed = sites, start, days, seed
        self.until = until
        self.n = len(sites)
        self.ids = [int(s[0]) for s in sites]
        self.meter = [meters.get(s) for s in self.ids]
        # Sites are grouped by time zone and raw window (the first ``raw_meters`` meters get
        # ``raw_hours``, the others the current hour): a group shares its days' edges.
        metered = [i for i in range(self.n) if self.meter[i] is not None]
        long_raw = set(metered[:raw_meters])
        keys = [(s[1], i in long_raw) for i, s in enumerate(sites)]
        groups = sorted(set(keys))
        index = {key: k for k, key in enumerate(groups)}
        self.zones = [zoneinfo.ZoneInfo(name) for name, _ in groups]
        self.zone_of = np.array([index[key] for key in keys], dtype=np.int64)
        # Per group: where raw readings start (from the start of an hour, up to now).
        self.raw_start = [
            hour_bucket(until - timedelta(hours=raw_hours if long else 0))[0]
            for _, long in groups
        ] if until is not None else [None] * len(groups)  # fmt: skip
        self.loads = loads or {}
        self._labs: dict[int, SimulatedMeter] = {}
        self.n_nodes = np.array([nodes.get(s, 0) for s in self.ids])
        # The lab models' energy counts from one fixed instant, so that a re-run at another
        # now computes the very same heat for the same interval, to the last bit.
        self._clock = SimClock(LAB_EPOCH, speed=0)
        self.pinned = [live.get(m[0]) if m else None for m in self.meter]
        maps = [register_map(m[1]) if m else None for m in self.meter]
        self.scale = [m.fields["energy_kwh"].scale if m else 0.1 for m in maps]
        self.res = np.array(self.scale)
        self.wrap = [round(m.rollover_kwh / m.fields["energy_kwh"].scale) if m else 0 for m in maps]
        self.first_live = np.array([p.first_day.toordinal() if p else NEVER for p in self.pinned])
        self.last_live = np.array([p.last_day.toordinal() if p else -NEVER for p in self.pinned])
        self.latest: dict[int, dict] = {}
        self.tails: dict[int, _Tail] = {}

    def lab(self, i: int) -> SimulatedMeter:
        """The lab's model of site ``i``'s meter, as ``run_lab`` runs it (its energy register
        aside: the seeded chain is the register)."""
        sim = self._labs.get(i)
        if sim is None:
            site_id, tz, capacity = self.ids[i], self.sites[i][1], float(self.sites[i][2])
            load = self.loads.get(site_id, 0.0)
            sim = self._labs[i] = SimulatedMeter(
                f"seed-{site_id}", clock=self._clock,
                model=self.meter[i][1] if self.meter[i] else "generic",
                nominal_kw=capacity or 10.0, load_kw=load if load > 0 else None, timezone=tz,
            )  # fmt: skip
        return sim

    def lab_kwh(self, i: int, a: datetime, b: datetime) -> float:
        """The heat the lab's meter of site ``i`` delivers from ``a`` to ``b``."""
        sim = self.lab(i)
        return sim.energy_total_kwh(b) - sim.energy_total_kwh(a)

    def _bounds(self, day: date):
        """Per group: the day's edges, where its rollups end, whether it has begun, is recent
        (hourly rollups), has raw readings after the rollups, and holds the raw window's start."""
        edges = [day_bucket(datetime(day.year, day.month, day.day, 12, tzinfo=tz), tz)
                 for tz in self.zones]  # fmt: skip
        if self.until is None:
            none = np.zeros(len(edges), dtype=bool)
            return edges, [b for _, b in edges], ~none, none, none, none
        until, raw = self.until, self.raw_start
        rollup_end = [b if b <= r else max(a, r) for (a, b), r in zip(edges, raw, strict=True)]
        begun = np.array([a < until for a, _ in edges])
        recent = np.array(
            [b > min(until - RECENT, r) for (_, b), r in zip(edges, raw, strict=True)]
        )
        partial = np.array([a < until and b > r for (a, b), r in zip(edges, raw, strict=True)])
        tail = np.array([a <= r < b for (a, b), r in zip(edges, raw, strict=True)])
        return edges, rollup_end, begun, recent & begun, partial, tail

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
        # The lab meter's daily means, which the days before the recent ones drift to.
        lab_power = lab_supply = lab_return = np.zeros(n)
        if self.until is not None:
            labs = [self.lab(i) for i in range(n)]
            lab_power = np.array([m.efficiency * m.load_kw for m in labs])
            lab_supply = np.array([m.supply_setpoint_c for m in labs])
            lab_return = np.array([m.return_mean_c for m in labs])
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            season = 0.75 + 0.2 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 15) / 365.25)
            missing = rng.random(n) < 0.005
            gap = rng.random(n) < 0.02
            coverage = np.where(gap, rng.uniform(0.4, 0.95, n), 1.0)
            power_kw = capacity * quality * season * rng.uniform(0.93, 1.07, n)
            supply = contract + supply_offset + rng.normal(0, 1.5, n)
            low, high = rng.uniform(1, 6, n), rng.uniform(1, 4, n)
            edges, rollup_end, begun, recent, today, tail = self._bounds(day)
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
            # The raw window is read as a running meter is: no missing day, no gap up to now.
            missing &= ~partial
            coverage = np.where(partial, 1.0, coverage)
            ret = supply - 30
            if self.until is not None:
                # Towards the present the figures drift to the lab meter's; its hours are its.
                age = (self.until.date() - day).days
                w = np.where(hourly, 1.0, float(np.clip(1 - (age - 1) / BLEND_DAYS, 0, 1)))
                power_kw = (1 - w) * power_kw + w * lab_power
                supply = (1 - w) * supply + w * lab_supply
                ret = (1 - w) * ret + w * lab_return
                low, high = (1 - w) * low, (1 - w) * high
                for i in np.flatnonzero(hourly & (rollup_s > 0)):
                    a = starts[z[i]]
                    power_kw[i] = self.lab_kwh(i, a, rollup_end[z[i]]) * 3600 / rollup_s[i]
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
                hourly=hourly, partial=partial & seeded, tail=tail[z] & seeded, counts=counts,
                carry=carry.copy(),
                f={"coverage": coverage, "power_kw": power_kw, "supply": supply, "ret": ret,
                   "flow": power_kw / (K_ROUGH * (supply - ret)), "contract": contract,
                   "low": low, "high": high, "efficiency": efficiency,
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
                    if d.tail[i]:
                        self._readings(i, d, reg)
                if self.n_nodes[i]:
                    elec.append(self._elec_row(i, d))
            yield heat, hourly, elec

    def _kwh(self, i: int, count: int) -> float:
        return int(count) * self.scale[i]

    def _register(self, i: int, count: int) -> float:
        wrap = self.wrap[i]
        return (count % wrap if wrap else count) * self.scale[i]

    def _bucket(self, i, d, first_ts, length, covered, readings, count, cum, reg, v) -> tuple:
        """One rollup's columns after (meter, site[, day]): its readings every ``POLL_S``
        from ``first_ts``, booking ``count`` register steps, with the figures ``v`` (power,
        supply, return, flow, lowest and highest supply); moves the chain on."""
        first_cum, first_reg = self._kwh(i, cum[i]), self._register(i, int(reg[i]))
        booked = int(count) * self.scale[i]
        cum[i] += count
        reg[i] += count
        last_reg = self._register(i, int(reg[i]))
        r = readings
        power, supply, ret, flow, low, high = v
        ok = covered * float(np.clip(0.5 + (supply - d.f["contract"][i]) / 6.0, 0.0, 1.0))
        last_ts = first_ts + timedelta(seconds=float(length) - POLL_S)
        if d.day.toordinal() > self.last_live[i]:
            # The newest seeded reading of a chain no live reading follows (yet).
            self.latest[self.meter[i][0]] = {
                "last_ts": last_ts, "last_supply_c": supply, "last_return_c": ret,
                "last_flow_m3h": flow, "last_power_kw": power,
                "last_energy_kwh": self._kwh(i, cum[i]), "register_baseline_kwh": last_reg,
                "register_changed_at": last_ts, "rebased": False,
            }  # fmt: skip
        return (
            r, first_ts, last_ts, first_reg, last_reg, first_cum, self._kwh(i, cum[i]),
            booked, power * covered / 3600, covered, ok, covered - ok, low, high,
            supply * r, ret * r, flow * r, power * r,
        )  # fmt: skip

    def _day_row(self, i, d, cum, reg) -> tuple:
        bucket, length = d.edges[self.zone_of[i]][0], float(d.seconds[i])
        covered = float(length * d.f["coverage"][i])
        r = max(int(covered / POLL_S), 1)
        f = {k: float(d.f[k][i]) for k in ("power_kw", "supply", "ret", "flow", "low", "high")}
        v = (f["power_kw"], f["supply"], f["ret"], f["flow"], f["supply"] - f["low"],
             f["supply"] + f["high"])  # fmt: skip
        values = self._bucket(i, d, bucket, length, covered, r, d.counts[i], cum, reg, v)
        return (self.meter[i][0], self.ids[i], d.day, bucket, *values)

    def _lab_hour(self, i, a: datetime, b: datetime) -> tuple[float, tuple]:
        """The lab meter's heat from ``a`` to ``b`` and its figures then (mean power; the
        temperatures halfway, the flow that carries the mean power between them)."""
        sim, kwh = self.lab(i), self.lab_kwh(i, a, b)
        power = kwh * 3600 / (b - a).total_seconds()
        mid = sim.values(a + (b - a) / 2)
        flow = physics.flow_for_power_m3h(
            power, mid.supply_c, mid.return_c, flow_at=sim.register_map.flow_at
        )
        return kwh, (power, mid.supply_c, mid.return_c, flow, mid.supply_c, mid.supply_c)

    def _hour_rows(self, i, d, cum, reg) -> tuple[list[tuple], tuple]:
        """A recent day's hourly rollups (UTC hours, up to the raw window) and the day's
        rollup, their sum: the lab meter's figures, the day's register steps spread over its
        hours as the lab meter's heat is."""
        zone = self.zone_of[i]
        start, end = d.edges[zone][0], d.rollup_end[zone]
        pieces = list(split_interval(start, end, hour_bucket))
        labs = [self._lab_hour(i, a, b) for _, a, b in pieces]
        total, elapsed, done = sum(kwh for kwh, _ in labs), 0.0, 0
        first_cum, first_reg = self._kwh(i, cum[i]), self._register(i, int(reg[i]))
        hours, values = [], []
        for (bucket, a, b), (kwh, figures) in zip(pieces, labs, strict=True):
            length = (b - a).total_seconds()
            elapsed += kwh
            upto = round(int(d.counts[i]) * elapsed / total) if total > 0 else 0
            covered = length * float(d.f["coverage"][i])  # a gap day's gap, spread evenly
            r = max(round(covered / POLL_S), 1)
            if b == self.raw_start[zone]:
                covered -= POLL_S  # the interval to the first raw reading: booked by ingestion
            v = self._bucket(i, d, a, length, covered, r, upto - done, cum, reg, figures)
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
        """The raw window is read, not rolled up: what its readings continue from, kept until
        ``readings`` makes them (a fleet's readings never sit in memory)."""
        self.tails[self.meter[i][0]] = _Tail(
            i, d.rollup_end[self.zone_of[i]], float(d.carry[i]), int(reg[i])
        )

    def count(self, meter_id: int) -> int:
        """How many readings ``readings`` makes for the meter."""
        t = self.tails[meter_id]
        return max(math.ceil((self.until - t.start).total_seconds() / POLL_S), 0)

    def readings(self, meter_id: int) -> list[MeterReading]:
        """A meter's readings every ``POLL_S`` from the end of its rollups to now: what the
        lab's meter shows then, continuing the register (with the heat not booked yet), ready
        for ingestion."""
        t = self.tails[meter_id]
        sim = self.lab(t.site)
        carry, reg, res = t.carry, t.register, float(self.res[t.site])
        ts, out = t.start, []
        before = sim.energy_total_kwh(ts - timedelta(seconds=POLL_S))
        while ts < self.until:
            v = sim.values(ts)
            total = sim.energy_total_kwh(ts)
            carry += total - before  # the heat since the previous reading
            before = total
            count = round(carry / res)
            carry -= count * res
            reg += count
            out.append(MeterReading(
                supply_c=v.supply_c, return_c=v.return_c, flow_m3h=v.flow_m3h,
                power_kw=v.power_kw, energy_kwh=self._register(t.site, reg), read_at=ts,
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
