"""Seed plausible daily history for every site: heat rollups and electrical energy.

    manage.py seed_history --days 365 [--end YYYY-MM-DD] [--seed 1]

For each site's current heat meter, one ``heat.DailyRollup`` per local day, and one
``hardware.ElectricalDaily`` per site and day, for the ``--days`` days before ``--end``
(default: today in the operator's time zone). Existing rows of those days are replaced. The
figures are consistent with each other (energy = mean power x 24 h, coverage gaps on a few days,
supply temperatures around the contract, electricity = heat / efficiency, 10 % of the sites on
nominal power) and deterministic for a seed. The monthly comparison cache of the months touched
is refreshed at the end. Raw readings are not created: this feeds the
comparison pages and benchmarks, not billing. PostgreSQL gets binary COPY; other databases
bulk inserts.
"""

from __future__ import annotations

import time
import zoneinfo
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from apps.hardware.models import ElectricalDaily
from apps.heat.models import DailyRollup
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


class Command(BaseCommand):
    help = "Bulk-creates plausible daily heat and electrical history for every site."

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
        meters = dict(
            HeatMeter.objects.filter(removed_at__isnull=True)
            .order_by("site_id", "-id")
            .values_list("site_id", "id")
        )
        nodes = dict(
            Node.objects.values("site_id").annotate(n=Count("id")).values_list("site_id", "n")
        )
        rng = np.random.default_rng(seed)
        n_heat = n_elec = 0
        with transaction.atomic():
            DailyRollup.objects.filter(day__gte=start, day__lt=end).delete()
            ElectricalDaily.objects.filter(day__gte=start, day__lt=end).delete()
            # One day at a time: a year of 10,000 sites never sits in memory at once.
            for heat, elec in self._days(sites, meters, nodes, start, days, rng):
                self._write(DailyRollup, HEAT_COLS, HEAT_TYPES, heat)
                self._write(ElectricalDaily, ELEC_COLS, ELEC_TYPES, elec)
                n_heat, n_elec = n_heat + len(heat), n_elec + len(elec)
        # The days just written replace any cached month they touch.
        months, month = [], start.replace(day=1)
        while month < end:
            months.append(month)
            month = next_month(month)
        site_months_refresh(months=months)
        took = time.perf_counter() - started
        self.stdout.write(
            f"{n_heat} daily heat rollups and {n_elec} electrical days "
            f"({start} to {end - timedelta(days=1)}), {len(months)} months cached, in {took:.1f} s"
        )

    def _days(self, sites, meters, nodes, start, days, rng):
        n = len(sites)
        ids = np.array([s[0] for s in sites])
        capacity = np.array([float(s[2]) for s in sites], dtype=float)
        capacity = np.where(capacity > 0, capacity, 10.0)
        contract = np.array([float(s[3]) for s in sites])
        quality = rng.uniform(0.55, 1.0, n)
        efficiency = rng.uniform(0.78, 0.97, n)
        supply_offset = rng.uniform(-4.0, 9.0, n)
        nominal_only = rng.random(n) < 0.1
        n_nodes = np.array([nodes.get(s, 0) for s in ids])
        zones: dict[str, zoneinfo.ZoneInfo] = {}
        cumulative = rng.uniform(1e4, 1e6, n)
        for d in range(days):
            heat, elec = [], []
            day = start + timedelta(days=d)
            season = 0.75 + 0.2 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 15) / 365.25)
            missing = rng.random(n) < 0.005
            gap = rng.random(n) < 0.02
            coverage = np.where(gap, rng.uniform(0.4, 0.95, n), 1.0)
            power_kw = capacity * quality * season * rng.uniform(0.93, 1.07, n)
            energy = power_kw * 24.0
            covered = 86400.0 * coverage
            supply = contract + supply_offset + rng.normal(0, 1.5, n)
            ok_share = np.clip(0.5 + (supply - contract) / 6.0, 0.0, 1.0)
            readings = np.maximum((covered / POLL_S).astype(np.int64), 1)
            elec_kwh = energy / efficiency
            cumulative = cumulative + energy
            for i in range(n):
                if missing[i]:
                    continue
                tz_name = sites[i][1]
                tz = zones.setdefault(tz_name, zoneinfo.ZoneInfo(tz_name))
                bucket = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
                site_id = int(ids[i])
                meter_id = meters.get(site_id)
                if meter_id is not None:
                    r = int(readings[i])
                    cov, ok = float(covered[i]), float(covered[i] * ok_share[i])
                    heat.append((
                        meter_id, site_id, day, bucket, r, bucket,
                        bucket + timedelta(seconds=86400 - POLL_S),
                        float(cumulative[i] - energy[i]), float(cumulative[i]),
                        float(cumulative[i] - energy[i]), float(cumulative[i]),
                        float(energy[i]), float(power_kw[i] * cov / 3600), cov, ok, cov - ok,
                        float(supply[i] - rng.uniform(1, 6)), float(supply[i] + rng.uniform(1, 4)),
                        float(supply[i] * r), float((supply[i] - 30) * r),
                        float(power_kw[i] / 35 * r), float(power_kw[i] * r),
                    ))  # fmt: skip
                if n_nodes[i]:
                    seconds = float(n_nodes[i] * 86400.0 * coverage[i])
                    kwh = float(elec_kwh[i])
                    if nominal_only[i]:
                        elec.append((site_id, day, kwh, 0.0, kwh, 0.0, seconds, seconds))
                    else:
                        elec.append((site_id, day, kwh, kwh, 0.0, seconds, 0.0, seconds))
            yield heat, elec

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
