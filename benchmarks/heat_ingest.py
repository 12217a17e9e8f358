"""Heat-reading ingestion rate into PostgreSQL: ingest_readings vs a naive ORM loop.

    .venv/bin/python benchmarks/heat_ingest.py [--meters 1000] [--cycles 60] [--bulk 360]
                                               [--naive 3000]

Uses its own database ``heatsite_bench`` (created and migrated if missing; override with
HEAT_BENCH_DATABASE_URL, never the test suite's database). Three runs, same process:

* ``poll batches`` — ``ingest_readings`` with one reading per meter per call, as the poller
  calls it (a cycle = every meter once, 10 s apart);
* ``bulk batches`` — ``ingest_readings`` with ``--bulk`` readings per meter per call (backfill,
  a gateway's buffered readings);
* ``naive ORM`` — one ``Reading.objects.create`` per row, no validation or rollups at all.

Both service runs do the whole job: validation, COPY of raw rows, hourly and daily rollups,
meter state, in one transaction per call.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/heatsite_bench"


def ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=60)
    parser.add_argument("--bulk", type=int, default=360, help="readings per meter per call")
    parser.add_argument("--naive", type=int, default=3000, help="rows for the naive loop")
    args = parser.parse_args()

    url = os.environ.get("HEAT_BENCH_DATABASE_URL", DEFAULT_URL)
    if url.rstrip("/").rsplit("/", 1)[1].startswith("test"):
        sys.exit("refusing to benchmark in a test database")
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.heat import physics
    from apps.heat.ingest import ingest_readings
    from apps.heat.meters import MeterReading
    from apps.heat.models import DailyRollup, HourlyRollup, MeterState, Reading, RejectedReading
    from apps.sites.models import HeatMeter, Organisation, Site

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        for model in (Reading, RejectedReading, HourlyRollup, DailyRollup, MeterState):
            cursor.execute(f"TRUNCATE {model._meta.db_table}")
    HeatMeter.objects.filter(serial__startswith="BENCH-").delete()
    org, _ = Organisation.objects.get_or_create(name="Bench partner")
    site, _ = Site.objects.get_or_create(code="bench", defaults={"name": "Bench", "partner": org})
    meters = HeatMeter.objects.bulk_create(
        HeatMeter(site=site, serial=f"BENCH-{i:05d}", host="127.0.0.1") for i in range(args.meters)
    )
    flow = physics.flow_for_power_m3h(90.0, 70.0, 45.0)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)

    def at(n: int) -> MeterReading:
        return MeterReading(
            70.0, 45.0, flow, 90.0, 1000.0 + 0.25 * n, t0 + timedelta(seconds=10 * n)
        )

    # Poll-shaped: one reading per meter per call.
    batches = [{m.id: [at(n)] for m in meters} for n in range(args.cycles)]
    started = time.perf_counter()
    for batch in batches:
        ingest_readings(batch, gap_s=30)
    poll_s = time.perf_counter() - started
    poll_n = Reading.objects.count()

    # Bulk: --bulk readings per meter per call, continuing the same meters.
    chunks = 2
    first = args.cycles
    bulk = [
        {m.id: [at(first + c * args.bulk + k) for k in range(args.bulk)] for m in meters}
        for c in range(chunks)
    ]
    started = time.perf_counter()
    for batch in bulk:
        ingest_readings(batch, gap_s=30)
    bulk_s = time.perf_counter() - started
    bulk_n = Reading.objects.count() - poll_n
    hourly = HourlyRollup.objects.count()

    naive_meter = meters[0]
    started = time.perf_counter()
    for n in range(args.naive):
        Reading.objects.create(
            meter=naive_meter, ts=t0 - timedelta(days=30, seconds=10 * n), supply_c=70.0,
            return_c=45.0, flow_m3h=flow, power_kw=90.0, energy_register_kwh=1.0,
            energy_kwh=1.0,
        )  # fmt: skip
    naive_s = time.perf_counter() - started

    rates = {
        f"ingest_readings, poll batches ({args.meters} x 1)": (poll_n, poll_s),
        f"ingest_readings, bulk batches ({args.meters} x {args.bulk})": (bulk_n, bulk_s),
        "naive ORM create() per row": (args.naive, naive_s),
    }
    naive_rate = args.naive / naive_s
    print(f"PostgreSQL {connection.pg_version}, {args.meters} meters, {hourly} hourly rollups")
    print(f"| {'method':45} | {'rows':>8} | {'seconds':>8} | {'rows/s':>9} | {'vs naive':>8} |")
    print(f"|{'-' * 47}|{'-' * 10}|{'-' * 10}|{'-' * 11}|{'-' * 10}|")
    for name, (n, s) in rates.items():
        print(f"| {name:45} | {n:8d} | {s:8.2f} | {n / s:9.0f} | {n / s / naive_rate:7.1f}x |")


if __name__ == "__main__":
    main()
