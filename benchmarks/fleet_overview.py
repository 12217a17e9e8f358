"""Fleet overview and sites API at fleet scale: server time and SQL queries per request.

    .venv/bin/python benchmarks/fleet_overview.py [--sites 10000] [--nodes-per-site 25]
        [--small-sites 100] [--requests 20] [--warmup 3] [--reseed]

Two PostgreSQL databases of its own on ``postgres://postgres@127.0.0.1:5432`` (override with
FLEET_BENCH_SERVER_URL): ``heatsite_bench_fleet`` (the big fleet) and
``heatsite_bench_fleet_small`` (``--small-sites``, to show that the number of queries does not
grow with the fleet). Each is created, migrated and seeded with ``manage.py seed_demo`` unless it
already holds a fleet of exactly that size; the seed is timed when it runs (``--reseed`` forces
it); both are migrated and vacuum-analysed before measuring, and every heat meter is given a
fresh reading (``--no-live-meters`` skips it) so the live-heat columns and total cost what they
cost in a healthy fleet. Each database is then measured in
its own process with Django's test client, in-process, with DEBUG off: median server time over
``--requests`` requests after ``--warmup``, and the queries of one request. Prints a markdown
table; exits 1 when a target is missed (median < 100 ms at the big size, same query count at
both sizes).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432"
BIG_DB, SMALL_DB = "heatsite_bench_fleet", "heatsite_bench_fleet_small"
TARGET_MS = 100.0
PARTNER = "partner-urbaine"  # created by seed_demo, owns a third of the sites
# DEBUG off, as in production; these keys exist only for the benchmark's databases.
BENCH_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "benchmark-only-secret-key-not-for-production",
    "CREDENTIAL_KEYS": "ZGV2LW9ubHktY3JlZGVudGlhbC1rZXktMzJieXRlcyE=",
    "CHANNELS_IN_MEMORY": "1",
    "LOG_LEVEL": "WARNING",
}
# (label, role, path): the pages and the API call the targets apply to.
CASES = [
    ("fleet, first page", "engineer", "/sites/"),
    ("fleet, page 200 by name", "engineer", "/sites/?sort=name&page=200"),
    ("fleet, search 'lyon'", "engineer", "/sites/?q=lyon"),
    ("fleet, first page", "partner", "/sites/"),
    ("fleet, page 200 by name", "partner", "/sites/?sort=name&page=200"),
    ("fleet, search 'lyon'", "partner", "/sites/?q=lyon"),
    ("GET /api/v1/sites/ (token)", "engineer", "/api/v1/sites/"),
]


# --- parent: prepare the databases, run one measuring process per size, print the table ---


def database_url(server: str, name: str) -> str:
    return f"{server.rstrip('/')}/{name}"


def fleet_size(server: str, name: str) -> tuple[int, int] | None:
    """(sites, nodes) in the database, or None when it does not exist or is not migrated."""
    import psycopg

    with psycopg.connect(database_url(server, "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return None
    with psycopg.connect(database_url(server, name)) as conn:
        try:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM sites_site), (SELECT count(*) FROM sites_node)"
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return (row[0], row[1]) if row else None


def recreate_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(database_url(server, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def manage(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )


def prepare(server: str, name: str, sites: int, nodes: int, reseed: bool) -> float | None:
    """Makes the database hold exactly `sites` x `nodes`; returns the seed time if it seeded."""
    url = database_url(server, name)
    reseed = reseed or fleet_size(server, name) != (sites, sites * nodes)
    if reseed:
        print(f"# seeding {name}: {sites} sites x {nodes} nodes", file=sys.stderr)
        recreate_database(server, name)
    manage(url, "migrate", "--verbosity", "0")  # also brings an old benchmark database up to date
    took = None
    if reseed:
        started = time.perf_counter()
        manage(url, "seed_demo", "--sites", str(sites), "--nodes-per-site", str(nodes))
        took = time.perf_counter() - started
    # What autovacuum does soon after a bulk load in production: planner statistics.
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return took


def measure_in_child(url: str, args: argparse.Namespace) -> dict:
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": url}
    argv = [sys.executable, __file__, "--measure", url, "--requests", str(args.requests)]
    argv += ["--warmup", str(args.warmup)] + (["--no-live-meters"] if args.no_live_meters else [])
    out = subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True)
    return json.loads(out.stdout.decode().strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--nodes-per-site", type=int, default=25)
    parser.add_argument("--small-sites", type=int, default=100)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--reseed", action="store_true", help="seed (and time it) even if seeded")
    parser.add_argument(
        "--no-live-meters",
        action="store_true",
        help="no meter has a reading (by default every meter was read just now)",
    )
    parser.add_argument("--measure", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.requests, args.warmup, not args.no_live_meters)))
        return 0
    if min(args.sites, args.small_sites, args.nodes_per_site, args.requests) < 1:
        parser.error("--sites, --small-sites, --nodes-per-site and --requests must be >= 1")

    server = os.environ.get("FLEET_BENCH_SERVER_URL", DEFAULT_SERVER)
    sizes = {"small": (SMALL_DB, args.small_sites), "big": (BIG_DB, args.sites)}
    seeded, results = {}, {}
    import psycopg

    try:
        for key, (name, sites) in sizes.items():
            seeded[key] = prepare(server, name, sites, args.nodes_per_site, args.reseed)
            url = database_url(server, name)
            results[key] = measure_in_child(url, args)
    except psycopg.OperationalError as exc:
        sys.exit(f"fleet_overview: cannot use PostgreSQL at {server}: {exc}")
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr or b""
        detail = detail.decode() if isinstance(detail, bytes) else detail
        sys.exit(f"fleet_overview: {' '.join(map(str, exc.cmd[1:3]))} failed:\n{detail[-2000:]}")
    return report(args, sizes, seeded, results)


def report(args, sizes, seeded, results) -> int:
    small_n, big_n = sizes["small"][1], sizes["big"][1]
    small, big = results["small"], results["big"]
    meters = "no live meters" if args.no_live_meters else "every meter read just now"
    print(
        f"{big['server']}; {args.nodes_per_site} nodes per site; {meters}; "
        f"median of {args.requests} after {args.warmup} warm-up requests"
    )
    print()
    print(
        f"| request | role | served | ms @{small_n} | queries @{small_n} "
        f"| ms @{big_n} | queries @{big_n} | kB @{big_n} | target |"
    )
    print("|---|---|---|--:|--:|--:|--:|--:|---|")
    ok = True
    for case_small, case_big in zip(small["cases"], big["cases"], strict=True):
        passed = case_big["median_ms"] < TARGET_MS and case_small["queries"] == case_big["queries"]
        ok &= passed
        print(
            f"| {case_big['label']} | {case_big['role']} | {case_big['served']} "
            f"| {case_small['median_ms']:.1f} | {case_small['queries']} "
            f"| {case_big['median_ms']:.1f} | {case_big['queries']} | {case_big['kb']:.0f} "
            f"| {'pass' if passed else 'FAIL'} |"
        )
    print()
    for key in ("small", "big"):
        name, sites = sizes[key]
        took = seeded[key]
        timing = f"{took:.0f} s" if took is not None else "not timed (already seeded; --reseed)"
        print(
            f"- `seed_demo --sites {sites} --nodes-per-site {args.nodes_per_site}` "
            f"({name}): {timing}"
        )
    return 0 if ok else 1


# --- child: Django set up on one database, measure every case ---


def set_meter_states(*, live: bool) -> None:
    """Every meter read just now (the page shows and sums live heat for every site), or none."""
    from django.utils import timezone

    from apps.heat.models import MeterState
    from apps.sites.models import HeatMeter

    if not live:
        MeterState.objects.all().delete()
        return
    now = timezone.now()
    states = [
        MeterState(
            meter_id=meter_id,
            status=MeterState.Status.OK,
            last_polled_at=now,
            last_ok_at=now,
            last_ts=now,
            last_power_kw=8.0 + meter_id % 7,
        )
        for meter_id in HeatMeter.objects.values_list("id", flat=True)
    ]
    MeterState.objects.bulk_create(
        states,
        batch_size=5000,
        update_conflicts=True,
        unique_fields=["meter"],
        update_fields=["status", "last_polled_at", "last_ok_at", "last_ts", "last_power_kw"],
    )


def measure(requests: int, warmup: int, live_meters: bool) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from apps.accounts.models import User
    from apps.tokens.services import create_token

    engineer = User.objects.get(username="engineer")
    _, secret = create_token(engineer, name="benchmark", days=1)
    clients = {"engineer": Client(), "partner": Client()}
    clients["engineer"].force_login(engineer)
    clients["partner"].force_login(User.objects.get(username=PARTNER))
    api = Client(headers={"authorization": f"Token {secret}"})

    cases = []
    for label, role, path in CASES:
        client = api if path.startswith("/api/") else clients[role]
        # Per case: readings older than the gap limit stop counting as live.
        set_meter_states(live=live_meters)

        def get(client=client, path=path, role=role):
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path} as {role}: HTTP {response.status_code}")
            return response

        for _ in range(warmup):
            get()
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            get()
            timings.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as captured:
            response = get()
        served = re.search(rb"Page (\d+) of (\d+)", response.content)
        cases.append(
            {
                "label": label,
                "role": role,
                "served": f"page {served[1].decode()}/{served[2].decode()}" if served else "-",
                "median_ms": statistics.median(timings),
                "queries": len(captured),
                "kb": len(response.content) / 1000,
            }
        )
    version = connection.pg_version
    return {"server": f"PostgreSQL {version // 10000}.{version % 10000}", "cases": cases}


if __name__ == "__main__":
    sys.exit(main())
