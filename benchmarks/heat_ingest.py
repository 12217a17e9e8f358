"""Heat-reading ingestion rate into PostgreSQL: ingest_readings vs a naive ORM loop.

    .venv/bin/python benchmarks/heat_ingest.py [--meters 1000] [--cycles 60] [--naive 5000]

Uses its own database ``heatsite_bench`` (created and migrated if missing; DATABASE_URL may
point elsewhere, but never at the test suite's database). Each "cycle" is one poll of every
meter (one reading each, 10 s apart), ingested as one batch, as the poller does. Reported:

* ``ingest_readings`` — the full service: validation, COPY, rollups, meter state;
* ``raw COPY only`` — the insert path alone, for scale;
* ``naive ORM`` — ``Reading.objects.create`` per row, no validation or rollups.
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
    parser.add_argument("--naive", type=int, default=5000, help="rows for the naive loop")
    args = parser.parse_args()

    url = os.environ.get("HEAT_BENCH_DATABASE_URL", DEFAULT_URL)
    if url.rstrip("/").endswith(("/test", "/test_test")):
        sys.exit("refusing to benchmark in the test database")
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from apps.heat import physics, services
    from apps.heat.meters import MeterReading
    from apps.heat.models import DailyRollup, HourlyRollup, MeterState, Reading, RejectedReading
    from apps.sites.models import HeatMeter, Organisation, Site

    call_command("migrate", verbosity=0)
    for model in (Reading, RejectedReading, HourlyRollup, DailyRollup, MeterState):
        model.objects.all().delete()
    HeatMeter.objects.filter(serial__startswith="BENCH-").delete()
    org, _ = Organisation.objects.get_or_create(name="Bench partner")
    site, _ = Site.objects.get_or_create(code="bench", defaults={"name": "Bench", "partner": org})
    meters = HeatMeter.objects.bulk_create(
        HeatMeter(site=site, serial=f"BENCH-{i:05d}", host="127.0.0.1") for i in range(args.meters)
    )
    flow = physics.flow_for_power_m3h(90.0, 70.0, 45.0)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)

    def cycle(n: int) -> dict[int, list[MeterReading]]:
        ts = t0 + timedelta(seconds=10 * n)
        return {m.id: [MeterReading(70.0, 45.0, flow, 90.0, 1000.0 + 0.25 * n, ts)] for m in meters}

    batches = [cycle(n) for n in range(args.cycles)]
    started = time.perf_counter()
    for batch in batches:
        services.ingest_readings(batch, gap_s=30)
    service_s = time.perf_counter() - started
    service_n = Reading.objects.count()

    rows = [
        Reading(meter_id=m.id, ts=t0 - timedelta(days=1, seconds=10 * n), supply_c=70.0,
                return_c=45.0, flow_m3h=flow, power_kw=90.0, energy_register_kwh=1.0,
                energy_kwh=1.0)
        for n in range(args.cycles) for m in meters
    ]  # fmt: skip
    started = time.perf_counter()
    with transaction.atomic():
        services._insert_readings(rows)
    copy_s = time.perf_counter() - started

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
        "ingest_readings (validate + COPY + rollups)": (service_n, service_s),
        "raw COPY only": (len(rows), copy_s),
        "naive ORM create() per row": (args.naive, naive_s),
    }
    naive_rate = args.naive / naive_s
    print(f"PostgreSQL {connection.pg_version}, {args.meters} meters x {args.cycles} cycles")
    print(f"| {'method':45} | {'rows':>8} | {'seconds':>8} | {'rows/s':>9} | {'vs naive':>8} |")
    print(f"|{'-' * 47}|{'-' * 10}|{'-' * 10}|{'-' * 11}|{'-' * 10}|")
    for name, (n, s) in rates.items():
        print(f"| {name:45} | {n:8d} | {s:8.2f} | {n / s:9.0f} | {n / s / naive_rate:7.1f}x |")


if __name__ == "__main__":
    main()
