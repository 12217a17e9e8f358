"""Seed plausible daily history for every site: heat rollups, meter registers, electricity.

    manage.py seed_history --days 365 [--end YYYY-MM-DD] [--seed 1]

For each site's current heat meter, one ``heat.DailyRollup`` per local day, and one
``hardware.ElectricalDaily`` per site and day, for the ``--days`` days before ``--end``
(default: today in the operator's time zone). The figures are consistent with each other
(energy = mean power x the day's length, coverage gaps on a few days, supply temperatures
around the contract, electricity = heat / efficiency, 10 % of the sites on nominal power) and
deterministic for a seed.

The rollups are what statements, the site page and the comparison all read, so they carry the
meter's register as well as the energy: each day's ``energy_kwh`` is the increase of a
cumulative register chain (on the register's resolution, wrapped at its rollover), booked on
the day of the reading like live ingestion books it; a day without readings (0.5 % of them)
leaves its heat to the next day with readings. Raw readings are not created (a year of 10 s
readings is billions of rows); the heat selectors read the register of the last reading before
a period from the rollups when no raw reading is older.

Live data is never overwritten. For a meter that has raw readings, only the days before its
first reading and after its last one are seeded: the chain before ends exactly where the live
one begins, the chain after continues from the meter's state. When the seeded chain is the
meter's latest data, ``heat.MeterState`` is set to its last reading, so the next live reading
continues it and the lab's meters resume from it (``apps.lab.meters.resume``): no register
ever goes backwards between history and live data. Existing seeded days are replaced. The
monthly comparison cache of the months touched is refreshed at the end. PostgreSQL gets binary
COPY; other databases bulk inserts.
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
from apps.heat.buckets import day_bucket
from apps.heat.meters import register_map
from apps.heat.models import DailyRollup, MeterState, Reading
from apps.planning.services import next_month, site_months_refresh
from apps.sites.models import HeatMeter, Node, Site

HEAT_COLS = (
    "meter_id", "site_id", "day", "bucket_start", "readings", "first_ts", "last_ts",
    "register_first_kwh", "register_last_kwh", "cumulative_first_kwh", "cumulative_last_kwh",
    "energy_kwh", "energy_power_kwh", "covered_s", "supply_ok_s", "supply_below_s",
    "supply_min_c", "supply_max_c", "supply_sum_c", "return_sum_c", "flow_sum_m3h",
    "power_sum_kw",
)  # fmt: skip
HEAT_TYPES = ("bigint", "bigint", "date", "timestamptz", "int4", "timestamptz", "timestamptz",
              *["float8"] * 15)  # fmt: skip
ELEC_COLS = ("site_id", "day", "energy_kwh", "measured_kwh", "nominal_kwh", "measured_s",
             "nominal_s", "covered_s")  # fmt: skip
ELEC_TYPES = ("bigint", "date", *["float8"] * 6)
POLL_S = 10.0
NEVER = 10**7  # an ordinal past any date: "no live data"


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
    help = "Bulk-creates plausible daily heat (with registers) and electrical history."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=365)
        parser.add_argument("--end", type=date.fromisoformat, default=None)
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args, days, end, seed, **options):
        if not 1 <= days <= 3660:
            raise CommandError("--days must be between 1 and 3660")
        end = end or timezone.localdate()
        start = end - timedelta(days=days)
        started = time.perf_counter()
        sites = list(
            Site.objects.order_by("id").values_list(
                "id", "timezone", "nominal_capacity_kw", "contract_min_supply_c"
            )
        )
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
        n_heat = n_elec = 0
        with transaction.atomic():
            live = self._live(sites, meters)
            self._delete(sites, meters, live, start, end)
            plan = _Plan(sites, meters, nodes, live, start, days, seed)
            for heat, elec in plan.rows():
                self._write(DailyRollup, HEAT_COLS, HEAT_TYPES, heat)
                self._write(ElectricalDaily, ELEC_COLS, ELEC_TYPES, elec)
                n_heat, n_elec = n_heat + len(heat), n_elec + len(elec)
            states = plan.states()
            self._save_states(states)
        # The days just written replace any cached month they touch.
        months, month = [], start.replace(day=1)
        while month < end:
            months.append(month)
            month = next_month(month)
        site_months_refresh(months=months)
        took = time.perf_counter() - started
        self.stdout.write(
            f"{n_heat} daily heat rollups and {n_elec} electrical days "
            f"({start} to {end - timedelta(days=1)}), {len(live)} meters with live data kept, "
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
        """Seeded days of the current meters (and their sites' electricity) go; live days stay."""
        seeded_meters = [m for m, _ in meters.values() if m not in live]
        live_sites = {s for s, (m, _) in meters.items() if m in live}
        in_range = Q(day__gte=start, day__lt=end)
        DailyRollup.objects.filter(in_range, meter_id__in=seeded_meters).delete()
        ElectricalDaily.objects.filter(in_range).exclude(site_id__in=live_sites).delete()
        for site_id, (meter_id, _) in meters.items():
            pinned = live.get(meter_id)
            if pinned is None:
                continue
            outside = Q(day__lt=pinned.first_day) | Q(day__gt=pinned.last_day)
            DailyRollup.objects.filter(in_range & outside, meter_id=meter_id).delete()
            ElectricalDaily.objects.filter(in_range & outside, site_id=site_id).delete()

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

    def _write(self, model, cols, types, rows):
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


class _Plan:
    """The seeded days of every site, drawn one day at a time for all sites (numpy), twice:
    a first pass adds up the heat booked on the days before each meter's live data, so the
    chain there ends exactly where the live one begins; the second (same draws) makes rows.
    A year of 10,000 sites never sits in memory at once.

    Registers are kept as counts of the register's resolution, so a seeded register is exactly
    the number the meter adapter decodes (count x scale) and the first live reading after it
    compares equal, never a float's breadth below."""

    def __init__(self, sites, meters, nodes, live, start, days, seed) -> None:
        self.sites, self.start, self.days, self.seed = sites, start, days, seed
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

    def _days(self):
        """Per day: the day, its buckets and lengths, which sites it is seeded for, which of
        those have readings, the heat each booked (register counts) and the day's figures."""
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
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            season = 0.75 + 0.2 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 15) / 365.25)
            missing = rng.random(n) < 0.005
            gap = rng.random(n) < 0.02
            coverage = np.where(gap, rng.uniform(0.4, 0.95, n), 1.0)
            power_kw = capacity * quality * season * rng.uniform(0.93, 1.07, n)
            supply = contract + supply_offset + rng.normal(0, 1.5, n)
            low, high = rng.uniform(1, 6, n), rng.uniform(1, 4, n)
            edges = [day_bucket(datetime(day.year, day.month, day.day, 12, tzinfo=tz), tz)
                     for tz in self.zones]  # fmt: skip
            seconds = np.array([(b - a).total_seconds() for a, b in edges])[self.zone_of]
            ordinal = day.toordinal()
            seeded = (ordinal < self.first_live) | (ordinal > self.last_live)
            energy = power_kw * seconds / 3600
            # The heat of a day without readings is booked by the next reading, as live
            # ingestion books it; live days end a chain (what they booked is theirs).
            carry = np.where(seeded, carry + energy, 0.0)
            present = seeded & ~missing
            counts = np.where(present, np.round(carry / self.res), 0).astype(np.int64)
            carry = carry - counts * self.res
            yield day, edges, seconds, seeded, present, counts, {
                "coverage": coverage, "power_kw": power_kw, "supply": supply,
                "contract": contract, "low": low, "high": high, "efficiency": efficiency,
                "nominal_only": nominal_only, "origin": origin, "energy": energy,
            }  # fmt: skip

    def _before_totals(self) -> np.ndarray:
        """Register counts booked on the seeded days before each meter's live data."""
        total = np.zeros(self.n, dtype=np.int64)
        for day, _, _, _, _, counts, _ in self._days():
            total += np.where(day.toordinal() < self.first_live, counts, 0)
        return total

    def rows(self):
        totals = self._before_totals()
        cum = np.zeros(self.n)  # cumulative register at the chain's last reading (kWh)
        reg = np.zeros(self.n, dtype=np.int64)  # the register then, in counts
        in_chain = np.zeros(self.n, dtype=bool)
        for day, edges, seconds, seeded, present, counts, f in self._days():
            before = day.toordinal() < self.first_live
            for i in np.flatnonzero(seeded & ~in_chain):
                # A chain starts: before live data it ends where live data begins; after it,
                # it continues the meter's state; without live data it starts anywhere.
                p, res = self.pinned[i], self.res[i]
                if p is None:
                    reg[i] = round(f["origin"][i] / res)
                    cum[i] = int(reg[i]) * self.scale[i]
                elif before[i]:
                    cum[i] = p.before_cumulative - int(totals[i]) * self.scale[i]
                    reg[i] = round(p.before_register / res) - totals[i]
                else:
                    cum[i], reg[i] = p.after_cumulative, round(p.after_register / res)
            in_chain = seeded
            heat, elec = [], []
            for i in np.flatnonzero(seeded):
                bucket = edges[self.zone_of[i]][0]
                if present[i] and self.meter[i] is not None:
                    heat.append(self._heat_row(i, day, bucket, seconds[i], counts[i], cum, reg, f))
                if self.n_nodes[i]:
                    elec.append(self._elec_row(i, day, seconds[i], f))
            yield heat, elec

    def _register(self, i: int, count: int) -> float:
        wrap = self.wrap[i]
        return (count % wrap if wrap else count) * self.scale[i]

    def _heat_row(self, i, day, bucket, length, count, cum, reg, f) -> tuple:
        first_cum, first_reg = float(cum[i]), self._register(i, int(reg[i]))
        booked = int(count) * self.scale[i]
        cum[i] += booked
        reg[i] += count
        last_reg = self._register(i, int(reg[i]))
        covered = float(length * f["coverage"][i])
        r = max(int(covered / POLL_S), 1)
        power, supply = float(f["power_kw"][i]), float(f["supply"][i])
        ok = covered * float(np.clip(0.5 + (supply - f["contract"][i]) / 6.0, 0.0, 1.0))
        last_ts = bucket + timedelta(seconds=float(length) - POLL_S)
        meter_id = self.meter[i][0]
        if day.toordinal() > self.last_live[i]:
            # The newest seeded reading of a chain no live reading follows (yet).
            self.latest[meter_id] = {
                "last_ts": last_ts, "last_supply_c": supply, "last_return_c": supply - 30,
                "last_flow_m3h": power / 35, "last_power_kw": power,
                "last_energy_kwh": float(cum[i]), "register_baseline_kwh": last_reg,
                "register_changed_at": last_ts, "rebased": False,
            }  # fmt: skip
        return (
            meter_id, self.ids[i], day, bucket, r, bucket, last_ts,
            first_reg, last_reg, first_cum, float(cum[i]),
            booked, power * covered / 3600, covered, ok, covered - ok,
            supply - float(f["low"][i]), supply + float(f["high"][i]),
            supply * r, (supply - 30) * r, power / 35 * r, power * r,
        )  # fmt: skip

    def _elec_row(self, i, day, length, f) -> tuple:
        seconds = float(self.n_nodes[i] * length * f["coverage"][i])
        kwh = float(f["energy"][i] / f["efficiency"][i])
        if f["nominal_only"][i]:
            return (self.ids[i], day, kwh, 0.0, kwh, 0.0, seconds, seconds)
        return (self.ids[i], day, kwh, kwh, 0.0, seconds, 0.0, seconds)

    def states(self) -> dict[int, dict]:
        """Meter states to set: meters whose newest data is now a seeded reading."""
        return self.latest
