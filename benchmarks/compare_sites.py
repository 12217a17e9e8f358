"""Planner comparison at fleet scale: rollups against raw readings, in the same run.

    .venv/bin/python benchmarks/compare_sites.py [--sites 10000] [--nodes-per-site 4]
        [--days 365] [--requests 7] [--raw-sites 10] [--raw-days 7] [--reseed]

Its own PostgreSQL database ``heatsite_bench_compare`` on ``postgres://postgres@127.0.0.1:5432``
(override with COMPARE_BENCH_SERVER_URL). Unless it already holds that fleet, the database is
recreated, migrated and seeded with ``seed_demo --sites N`` and ``seed_history --days D`` (both
timed); every run refreshes the monthly cache (``refresh_site_months --all``, timed) and
vacuum-analyses. Measured in-process, DEBUG off, median of ``--requests`` after a
warm-up:

* ``compare_sites`` (the selector: SQL over the monthly cache and the daily rollups, plus the
  figures) and the whole API request
  (``GET /api/v1/compare/?sites=...``, JSON) for 1,000 sites and for every site, over ``--days``,
  with the SQL queries of one call;
* the same figures from raw readings: ``--raw-sites`` sites get ``--raw-days`` of 10 s readings
  (COPY), and one SQL query computes energy, coverage, contract time and temperatures per site
  from them (window functions over consecutive readings), timed against the rollup path over
  the same sites and days. Raw data for 10,000 sites x a year (31.5 G rows) does not fit this
  machine, so the raw time is extrapolated linearly in rows to 1,000 sites x 365 days.

Prints a markdown table; exits 1 when a target is missed (1,000 sites < 300 ms, all < 1 s,
same query count at every size).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
DB_NAME = "heatsite_bench_compare"
BENCH_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "benchmark-only-secret-key-not-for-production",
    "CREDENTIAL_KEYS": "ZGV2LW9ubHktY3JlZGVudGlhbC1rZXktMzJieXRlcyE=",
    "CHANNELS_IN_MEMORY": "1",
    "LOG_LEVEL": "WARNING",
}
TARGET_1000_MS, TARGET_ALL_MS = 300.0, 1000.0
POLL_S = 10

RAW_SQL = """
WITH r AS (
    SELECT m.site_id, r.ts, r.supply_c, r.power_kw, r.energy_kwh,
           lag(r.ts) OVER w AS prev_ts, lag(r.supply_c) OVER w AS prev_supply,
           lag(r.power_kw) OVER w AS prev_power
    FROM heat_reading r JOIN sites_heatmeter m ON m.id = r.meter_id
    WHERE m.site_id = ANY(%(sites)s) AND r.ts >= %(start)s AND r.ts < %(end)s
    WINDOW w AS (PARTITION BY r.meter_id ORDER BY r.ts)
), i AS (
    SELECT site_id, supply_c, energy_kwh, prev_supply, prev_power, power_kw,
           extract(epoch FROM ts - prev_ts) AS dt
    FROM r
)
SELECT i.site_id,
       max(energy_kwh) - min(energy_kwh) AS energy_kwh,
       sum((prev_power + power_kw) / 2 * dt / 3600) FILTER (WHERE dt <= %(gap)s) AS power_kwh,
       sum(dt) FILTER (WHERE dt <= %(gap)s) AS covered_s,
       sum(dt) FILTER (WHERE dt <= %(gap)s AND prev_supply >= s.contract_min_supply_c) AS ok_s,
       avg(supply_c) AS supply_avg_c, min(supply_c) AS supply_min_c
FROM i JOIN sites_site s ON s.id = i.site_id
GROUP BY i.site_id
"""


def database_url(server: str, name: str) -> str:
    return f"{server.rstrip('/')}/{name}"


def prepare(server: str, args: argparse.Namespace) -> dict[str, float]:
    """Creates, migrates and seeds the database unless it already holds this fleet."""
    import psycopg

    url = database_url(server, DB_NAME)
    with psycopg.connect(database_url(server, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
    size = None
    if exists and not args.reseed:
        with psycopg.connect(url) as conn:
            try:
                size = conn.execute(
                    "SELECT (SELECT count(*) FROM sites_site),"
                    " (SELECT count(DISTINCT day) FROM heat_dailyrollup)"
                ).fetchone()
            except psycopg.errors.UndefinedTable:
                size = None
    timings: dict[str, float] = {}
    if size != (args.sites, args.days):
        print(f"# seeding {DB_NAME}: {args.sites} sites, {args.days} days", file=sys.stderr)
        with psycopg.connect(database_url(server, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    os.environ.update(BENCH_ENV | {"DATABASE_URL": url})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    fresh = size != (args.sites, args.days)
    if fresh:
        t = time.perf_counter()
        call_command(
            "seed_demo",
            sites=args.sites,
            nodes_per_site=args.nodes_per_site,
            stdout=io.StringIO(),
        )
        timings["seed_demo"] = time.perf_counter() - t
        t = time.perf_counter()
        # Whole days only (daily rollups): the comparison reads no more, and seeding up to now
        # would ingest the current hour's raw readings of every meter.
        end = timezone.localdate()
        call_command("seed_history", days=args.days, end=end, stdout=sys.stderr)
        timings["seed_history"] = time.perf_counter() - t
    t = time.perf_counter()
    call_command("refresh_site_months", all=True, stdout=sys.stderr)
    timings["refresh_site_months --all"] = time.perf_counter() - t
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return timings


def median_ms(fn, requests: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(requests):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def seed_raw(site_ids: list[int], start: datetime, days: int) -> int:
    """10 s readings for the sites' meters over [start, start + days), by COPY; idempotent."""
    from django.db import connection, transaction

    from apps.heat.models import Reading
    from apps.sites.models import HeatMeter

    meters = list(HeatMeter.objects.filter(site_id__in=site_ids).values_list("id", flat=True))
    end = start + timedelta(days=days)
    if (
        Reading.objects.filter(meter_id__in=meters, ts__gte=start, ts__lt=end).count()
        == len(meters) * days * 86400 // POLL_S
    ):
        return len(meters) * days * 86400 // POLL_S
    Reading.objects.filter(meter_id__in=meters).delete()
    cols = (
        "meter_id, ts, supply_c, return_c, flow_m3h, power_kw, energy_register_kwh, energy_kwh,"
        " status, flags"
    )
    sql = f"COPY heat_reading ({cols}) FROM STDIN (FORMAT BINARY)"
    types = ["bigint", "timestamptz", *["float8"] * 6, "int4", "int2"]
    n = 0
    with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.set_types(types)
        for k, meter in enumerate(meters):
            energy = 1000.0 * k
            for step in range(days * 86400 // POLL_S):
                if 2000 <= step % 8640 < 2400 and k % 3 == 0:
                    continue  # a daily gap of about an hour on a third of the meters
                power = 40.0 + 10.0 * ((step // 360) % 4)
                energy += power * POLL_S / 3600
                supply = 58.0 + (step % 1440) / 120
                ts = start + timedelta(seconds=step * POLL_S)
                copy.write_row(
                    (meter, ts, supply, supply - 30, power / 35, power, energy, energy, 0, 0)
                )
                n += 1
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE heat_reading")
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--nodes-per-site", type=int, default=4)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--requests", type=int, default=7)
    parser.add_argument("--raw-sites", type=int, default=10)
    parser.add_argument("--raw-days", type=int, default=7)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    server = os.environ.get("COMPARE_BENCH_SERVER_URL", DEFAULT_SERVER)
    timings = prepare(server, args)

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.planning.selectors import Period, compare_sites, last_days
    from apps.sites.models import Site

    period = last_days(args.days)
    all_ids = list(Site.objects.order_by("id").values_list("id", flat=True))
    client = Client()
    client.force_login(User.objects.get(username="planner"))
    results = []
    query_counts = {}
    for label, ids in (
        ("10 sites", all_ids[:10]),
        ("1,000 sites", all_ids[:: max(len(all_ids) // 1000, 1)][:1000]),
        (f"all {len(all_ids):,} sites", None),
    ):
        sites = Site.objects.all() if ids is None else Site.objects.filter(pk__in=ids)
        executed: list[str] = []

        def count(execute, sql, params, many, context, executed=executed):
            executed.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            rows = compare_sites(sites=sites, period=period).rows
        query_counts[label] = len(executed)
        selector_ms = median_ms(
            lambda s=sites: compare_sites(sites=s, period=period), args.requests
        )
        params = {"start": period.start, "end": period.end}
        if ids is not None:
            params["sites"] = ",".join(map(str, ids))

        def request(p=params):
            response = client.get("/api/v1/compare/", p)
            assert response.status_code == 200, response.content[:200]

        api_ms = median_ms(request, args.requests)
        results.append((label, len(rows), selector_ms, api_ms, len(executed)))

    raw_ids = all_ids[: args.raw_sites]
    raw_period = Period(period.end - timedelta(days=args.raw_days), period.end)
    tz = timezone.get_current_timezone()
    raw_start = datetime.combine(raw_period.start, datetime.min.time(), tz).astimezone(UTC)
    raw_rows = seed_raw(raw_ids, raw_start, args.raw_days)

    def raw():
        with connection.cursor() as cursor:
            cursor.execute(
                RAW_SQL,
                {"sites": raw_ids, "start": raw_start,
                 "end": raw_start + timedelta(days=args.raw_days), "gap": 3 * POLL_S},
            )  # fmt: skip
            return cursor.fetchall()

    raw_ms = median_ms(raw, max(args.requests // 2, 3), warmup=1)
    small = Site.objects.filter(pk__in=raw_ids)
    rollup_small_ms = median_ms(
        lambda: compare_sites(sites=small, period=raw_period), args.requests
    )
    scale = (1000 / len(raw_ids)) * (args.days / args.raw_days)

    seeded = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) or "database reused"
    print(f"\nPeriod: {period} ({args.days} site-local days); seeding: {seeded}")
    print("\n| comparison | rows | selector (median ms) | API request (median ms) | SQL queries |")
    print("|---|---:|---:|---:|---:|")
    for label, n, sel, api, q in results:
        print(f"| {label}, {args.days} days | {n:,} | {sel:.0f} | {api:.0f} | {q} |")
    print(f"\n| same figures, {len(raw_ids)} sites x {args.raw_days} days | source rows | "
          "median ms | 1,000 sites x 365 days (extrapolated) |")  # fmt: skip
    print("|---|---:|---:|---:|")
    print(
        f"| raw readings (one window-function query) | {raw_rows:,} | {raw_ms:.0f} | "
        f"{raw_ms * scale / 1000:,.0f} s over {raw_rows * scale / 1e9:.1f} G rows |"
    )
    print(
        f"| rollups (`compare_sites`) | {len(raw_ids) * args.raw_days:,} | "
        f"{rollup_small_ms:.0f} | measured above |"
    )
    ok = True
    by_label = {r[0]: r for r in results}
    one_k = by_label["1,000 sites"]
    everything = results[-1]
    if max(one_k[2], one_k[3]) >= TARGET_1000_MS:
        print(f"MISSED: 1,000 sites took {max(one_k[2], one_k[3]):.0f} ms", file=sys.stderr)
        ok = False
    if max(everything[2], everything[3]) >= TARGET_ALL_MS:
        print(f"MISSED: all sites took {max(everything[2], everything[3]):.0f} ms", file=sys.stderr)
        ok = False
    if len(set(query_counts.values())) != 1:
        print(f"MISSED: query counts differ {query_counts}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
