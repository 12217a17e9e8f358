"""Seed plausible heat (with registers) and electricity history for every site, up to now.

    manage.py seed_history --days 365 [--now ISO-DATETIME | --end YYYY-MM-DD] [--seed 1]
                           [--raw-hours 6] [--raw-meters 250]

For each site's current heat meter and each site, for the ``--days`` local days before today
(in the operator's time zone) and today up to now (``--now``, default the clock), at the
granularity live storage keeps (docs/heat-storage.md):

* days before the last 24 hours: one ``heat.DailyRollup`` per local day;
* the days the last 24 hours touch: ``heat.HourlyRollup`` rows for their (UTC) hours, up to
  the raw readings, and the day's rollup, their sum, so the "last 24 hours" chart and the
  site page's "today" read the same heat as the comparison;
* the site page's live window (``--raw-hours``, 6 by default, from the start of the hour it
  begins in; 0 = the current hour only): raw readings every 10 s up to now, stored by
  ``heat.ingest`` (the one way readings enter storage), which books them into their hours and
  days and sets the meter's state; so the live chart is full, the first live reading continues
  the seeded register and today is covered. Readings cost: for large fleets only the first
  ``--raw-meters`` meters (by site id, 250 by default) get the whole window, the others the
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
to the lab's daily means over the days before (``apps.lab.meters.history``).

The rollups are what statements, the site page and the comparison all read, so they carry the
meter's register as well as the energy: each bucket's ``energy_kwh`` is the increase of a
cumulative register chain (on the register's resolution, wrapped at its rollover), booked in
the bucket of the reading like live ingestion books it; a day before today without readings
(0.5 % of them) leaves its heat to the next day with readings. The heat selectors read the register
of the last reading before a period from the rollups when no raw reading is older.

Live data is never overwritten. For a meter that has raw readings (live ones, or the live window
a previous run seeded), only the days before its first reading and after its last one are
seeded: the chain before ends exactly where the live one begins, the chain after continues from
the meter's state (when the raw window begins on a kept day, its readings start with the next
seeded day, the first one booking the heat since the state). A day with live data is kept whole,
so running the command again (every ``make demo`` does) changes nothing already stored from the
first raw reading on. When the seeded chain is the meter's latest data, ``heat.MeterState`` is
its last reading, so the next live reading continues it and the lab's meters resume from it
(``apps.lab.meters.resume``): no register ever goes backwards between history and live data.
Existing seeded days are replaced. The monthly comparison cache of the months touched is
refreshed at the end. PostgreSQL gets binary COPY; other databases bulk inserts.
"""

from __future__ import annotations

import time
import zoneinfo
from datetime import date, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.hardware.models import ElectricalDaily
from apps.heat.buckets import day_bucket
from apps.heat.ingest import ingest_readings
from apps.heat.models import DailyRollup, HourlyRollup, MeterState, Reading
from apps.lab.meters.history import RAW_HOURS, RAW_METERS, Live, Plan
from apps.lab.meters.simulation import site_load_kw
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
# Readings per ingestion call (a fleet's readings never sit in memory at once).
INGEST_READINGS = 72_000


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
            plan = Plan(sites, meters, counts, live, start, (end - start).days, seed, until,
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
                after_ts=state.last_ts,
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

    def _ingest(self, plan: Plan) -> int:
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
