"""Heat page queries on a year of 10-second readings for 50 sites (PostgreSQL).

    .venv/bin/python benchmarks/heat_queries.py [--sites 50] [--days 365] [--reuse] [--runs 20]

Own database ``heatsite_bench_heat`` (override with HEAT_QUERIES_DATABASE_URL). The data is
generated in SQL (``generate_series``): one meter per site, a reading every 10 s for ``--days``
up to now, constant power per site (70/45 °C), so raw rows, hourly rollups (UTC hours) and
daily rollups (Paris days, 23/25 h at DST) agree exactly. ``--reuse`` skips the generation when
the data is already there. Then, for sites in turn, the median server-side time of:

* ``site_series`` hour resolution over a week, day resolution over a year, raw over 6 hours;
* ``site_heat_summary`` (today / month / year and last year, current state);
* ``monthly_statement`` of the previous month.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/heatsite_bench_heat"
TZ = "Europe/Paris"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def generate(sites: int, days: int, end: datetime) -> None:
    from django.db import connection

    from apps.heat import physics
    from apps.heat.models import DailyRollup, HourlyRollup, MeterState, Reading
    from apps.sites.models import HeatMeter, Organisation, Site

    with connection.cursor() as cursor:
        for model in (Reading, HourlyRollup, DailyRollup, MeterState):
            cursor.execute(f"TRUNCATE {model._meta.db_table}")
    HeatMeter.objects.filter(serial__startswith="QB-").delete()
    Site.objects.filter(code__startswith="qb-").delete()
    org, _ = Organisation.objects.get_or_create(name="Query bench partner")
    start = end - timedelta(days=days)
    n = days * 8640
    for i in range(sites):
        site = Site.objects.create(code=f"qb-{i:03d}", name=f"Bench {i}", partner=org,
                                   contract_min_supply_c=65, timezone=TZ)  # fmt: skip
        meter = HeatMeter.objects.create(site=site, serial=f"QB-{i:03d}", host="127.0.0.1",
                                         installed_at=start - timedelta(days=1))  # fmt: skip
        power = 60.0 + i
        flow = physics.flow_for_power_m3h(power, 70.0, 45.0)
        step = power * 10 / 3600  # kWh per reading
        t = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO heat_reading (meter_id, ts, supply_c, return_c, flow_m3h, power_kw, "
                "energy_register_kwh, energy_kwh, status, flags) "
                "SELECT %s, %s + k * interval '10 seconds', 70, 45, %s, %s, k * %s, k * %s, 0, "
                "CASE WHEN k = 0 THEN 1 ELSE 0 END FROM generate_series(0, %s) k",
                [meter.id, start, flow, power, step, step, n - 1],
            )
            # A bucket's energy is booked with its readings: 360 per full hour, the first
            # reading of all has none.
            for table, buckets, length in (
                ("heat_hourlyrollup",
                 "SELECT h AS b, h + interval '1 hour' AS e, NULL::date AS day FROM "
                 "generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval "
                 "'1 hour', interval '1 hour') h", None),
                ("heat_dailyrollup",
                 "SELECT (d::timestamp AT TIME ZONE %(tz)s) AS b, "
                 "((d + 1)::timestamp AT TIME ZONE %(tz)s) AS e, d AS day FROM ("
                 "SELECT (%(start)s::timestamptz AT TIME ZONE %(tz)s)::date + g AS d FROM "
                 "generate_series(0, (%(end)s::timestamptz AT TIME ZONE %(tz)s)::date - "
                 "(%(start)s::timestamptz AT TIME ZONE %(tz)s)::date) g) days",
                 None),
            ):  # fmt: skip
                del length
                day_col = ", day" if table == "heat_dailyrollup" else ""
                cursor.execute(
                    f"INSERT INTO {table} (meter_id, site_id, bucket_start, readings, first_ts, "  # noqa: S608
                    "last_ts, register_first_kwh, register_last_kwh, cumulative_first_kwh, "
                    "cumulative_last_kwh, energy_kwh, energy_power_kwh, covered_s, supply_ok_s, "
                    "supply_below_s, supply_min_c, supply_max_c, supply_sum_c, return_sum_c, "
                    f"flow_sum_m3h, power_sum_kw{day_col}) "
                    "SELECT %(meter)s, %(site)s, b, n, b, e - interval '10 seconds', "
                    "k0 * %(step)s, (k0 + n - 1) * %(step)s, "
                    "k0 * %(step)s, (k0 + n - 1) * %(step)s, "
                    "n * %(step)s, s * %(power)s / 3600, s, s, 0, 70, 70, 70 * n, 45 * n, "
                    f"%(flow)s * n, %(power)s * n{day_col} FROM ("
                    "SELECT b, e, day, extract(epoch FROM e - b) AS s, "
                    "(extract(epoch FROM e - b) / 10)::int AS n, "
                    "(extract(epoch FROM b - %(start)s::timestamptz) / 10)::bigint AS k0 "
                    f"FROM ({buckets}) x WHERE b >= %(start)s AND e <= %(end)s) y",
                    {"meter": meter.id, "site": site.id, "start": start, "end": end, "tz": TZ,
                     "step": step, "power": power, "flow": flow},
                )  # fmt: skip
        last = start + timedelta(seconds=10 * (n - 1))
        MeterState.objects.create(
            meter=meter, status="ok", last_ts=last, last_ok_at=last, last_supply_c=70,
            last_return_c=45, last_flow_m3h=flow, last_power_kw=power,
            last_energy_kwh=(n - 1) * step, register_baseline_kwh=(n - 1) * step,
            register_changed_at=last,
        )  # fmt: skip
        print(f"site {i + 1}/{sites}: {n} readings in {time.perf_counter() - t:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("HEAT_QUERIES_DATABASE_URL", DEFAULT_URL)
    if url.rstrip("/").rsplit("/", 1)[1].startswith("test"):
        sys.exit("refusing to benchmark in a test database")
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.heat import selectors
    from apps.heat.models import MeterState, Reading
    from apps.sites.models import Site

    call_command("migrate", verbosity=0)
    state = MeterState.objects.filter(meter__serial__startswith="QB-").order_by("-last_ts").first()
    if args.reuse and state is not None:
        end = state.last_ts + timedelta(seconds=10)
    else:
        end = datetime.now(UTC).replace(microsecond=0, second=0, minute=0)
        started = time.perf_counter()
        generate(args.sites, args.days, end)
        print(f"generated in {time.perf_counter() - started:.0f} s")
    sites = list(Site.objects.filter(code__startswith="qb-").values_list("id", flat=True))
    now = end - timedelta(minutes=7)  # mid-hour: the summary's ragged edges hit raw rows
    local = now.astimezone(Site.objects.get(pk=sites[0]).tzinfo)
    prev = local.replace(day=1) - timedelta(days=1)
    queries = {
        "site_series hour, 7 days": lambda s: selectors.site_series(
            s, now - timedelta(days=7), now, "hour"),
        "site_series day, 365 days": lambda s: selectors.site_series(
            s, now - timedelta(days=365), now, "day"),
        "site_series raw, 6 hours": lambda s: selectors.site_series(
            s, now - timedelta(hours=6), now, "raw"),
        "site_heat_summary": lambda s: selectors.site_heat_summary(s, now),
        f"monthly_statement {prev:%Y-%m}": lambda s: selectors.monthly_statement(
            s, prev.year, prev.month),
    }  # fmt: skip
    rows = Reading.objects.count()
    print(f"PostgreSQL {connection.pg_version}, {len(sites)} sites, {rows} readings")
    print(f"| {'request':32} | {'median ms':>9} | {'p90 ms':>7} | {'max ms':>7} |")
    print(f"|{'-' * 34}|{'-' * 11}|{'-' * 9}|{'-' * 9}|")
    for name, query in queries.items():
        query(sites[0])  # warm the connection and caches like a running server
        times = []
        for k in range(args.runs):
            t = time.perf_counter()
            query(sites[k % len(sites)])
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p90 = times[int(0.9 * (len(times) - 1))]
        print(f"| {name:32} | {statistics.median(times):9.1f} | {p90:7.1f} | {times[-1]:7.1f} |")


if __name__ == "__main__":
    main()
