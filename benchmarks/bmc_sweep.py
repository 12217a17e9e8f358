"""Power-state sweep of 200 lab BMCs, measured three ways in one run.

1. Heatsite: `apps.hardware.sweep.sweep()` (patched pyghmi, cached sessions, thread pool), in
   one process, and split across 2 processes as the Celery deployment runs it (`-c 2`, one
   batch of the fleet per worker process): the 2-process figure is Heatsite's.
2. Stock pyghmi, a new session per poll (login, Get Chassis Status, logout), 8 threads, in a
   subprocess without `pyghmi_compat.apply()`. Stock pyghmi hangs on the second Command() to a
   BMC (fix 1), so that run clears ``Session.initting_sessions`` after each login: the minimum
   that lets it open a session twice at all.
3. ``ipmitool -I lanplus ... power status`` spawned per BMC, 8 at a time (like ``xargs -P8``).

The lab runs in its own process on the same two cores. Usage:

    .venv/bin/python benchmarks/bmc_sweep.py [--count 200] [--seconds 5] [--processes 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import subprocess
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.hardware.drivers import BmcEndpoint  # noqa: E402
from apps.hardware.drivers import ipmi as ipmi_driver  # noqa: E402
from apps.hardware.sweep import CircuitBreaker, sweep  # noqa: E402

STOCK_SCRIPT = r"""
import json, sys, threading, time
from pyghmi.ipmi import command
from pyghmi.ipmi.private import session
ports = json.loads(sys.argv[1]); seconds = float(sys.argv[2])
count = [0]; errors = [0]; lock = threading.Lock(); stop = time.monotonic() + seconds
def worker(offset):
    i = offset
    while time.monotonic() < stop:
        port = ports[i % len(ports)]; i += 8
        try:
            c = command.Command("127.0.0.1", "admin", "password", port=port)
            session.Session.initting_sessions.clear()
            c.get_power()
            c.ipmi_session.logout()
            with lock: count[0] += 1
        except Exception:
            with lock: errors[0] += 1
threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(8)]
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join(seconds + 30)
print(json.dumps({"polls": count[0], "errors": errors[0], "seconds": time.monotonic() - start}))
"""


def start_lab(count: int) -> tuple[subprocess.Popen, list[int]]:
    lab = subprocess.Popen(
        [sys.executable, "-m", "apps.lab.bmc.cli", "--base-port", "0", "--count", str(count)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = lab.stdout.readline()
    match = re.search(r":(\d+)-(\d+)", line)
    if not match:
        lab.kill()
        raise SystemExit(f"lab did not start: {line!r}")
    first, last = int(match.group(1)), int(match.group(2))
    return lab, list(range(first, last + 1))


def bench_heatsite(endpoints, seconds: float, threads: int) -> dict:
    breaker = CircuitBreaker()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    warm = sweep(endpoints, max_concurrency=threads, breaker=breaker)  # logins
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert all(r.ok for r in warm), [r.message for r in warm if not r.ok][:3]
    polls, failures, start = 0, 0, time.monotonic()
    while time.monotonic() - start < seconds:
        results = sweep(endpoints, max_concurrency=threads, breaker=breaker)
        polls += len(results)
        failures += sum(not r.ok for r in results)
    elapsed = time.monotonic() - start
    return {
        "rate": polls / elapsed,
        "polls": polls,
        "errors": failures,
        "bytes_per_session": grown / len(endpoints),
        "sessions": ipmi_driver.cached_sessions(),
    }


def _sweep_process(endpoints, threads: int, start_at: float, seconds: float, out) -> None:
    """One worker process: log in, wait for the common start, sweep its share until the end."""
    breaker = CircuitBreaker()
    warm = sweep(endpoints, max_concurrency=threads, breaker=breaker)
    polls = failures = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while time.time() < start_at + seconds:
        results = sweep(endpoints, max_concurrency=threads, breaker=breaker)
        polls += len(results)
        failures += sum(not r.ok for r in results)
    out.put({"polls": polls, "errors": failures + sum(not r.ok for r in warm)})


def bench_processes(endpoints, seconds: float, threads: int, processes: int) -> dict:
    """The sweep split into `processes` batches, one per process, measured over the same span."""
    context = multiprocessing.get_context("spawn")  # like Celery's pool: fresh pyghmi state
    out = context.Queue()
    start_at = time.time() + 3.0  # time for the children to import and log in
    workers = [
        context.Process(
            target=_sweep_process, args=(endpoints[k::processes], threads, start_at, seconds, out)
        )
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    for worker in workers:
        worker.join(30)
    polls = sum(r["polls"] for r in results)
    return {"rate": polls / seconds, "polls": polls, "errors": sum(r["errors"] for r in results)}


def bench_stock(ports, seconds: float) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", STOCK_SCRIPT, json.dumps(ports), str(seconds)],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {"rate": result["polls"] / result["seconds"], **result}


def bench_ipmitool(ports) -> dict:
    def one(port: int) -> bool:
        command = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port)]
        command += ["-U", "admin", "-P", "password", "power", "status"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        return "Chassis Power is" in done.stdout

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        ok = list(pool.map(one, ports))
    elapsed = time.monotonic() - start
    return {"rate": len(ports) / elapsed, "polls": len(ports), "errors": ok.count(False)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--processes", type=int, default=2, help="worker processes (Celery -c)")
    args = parser.parse_args()
    lab, ports = start_lab(args.count)
    try:
        endpoints = [BmcEndpoint("127.0.0.1", p, "admin", "password") for p in ports]
        heatsite = bench_heatsite(endpoints, args.seconds, args.threads)
        ipmi_driver.close_all()
        split = bench_processes(endpoints, args.seconds, args.threads, args.processes)
        stock = bench_stock(ports, args.seconds)
        tool = bench_ipmitool(ports)
    finally:
        lab.terminate()
        lab.wait(10)
    rows = [
        (f"**Heatsite: {args.processes} worker processes × {args.threads} threads**", split),
        (f"Heatsite sweep(), 1 process ({args.threads} threads, cached)", heatsite),
        ("stock pyghmi, new session per poll (8 threads)", stock),
        ("ipmitool spawned per BMC (8 at a time)", tool),
    ]
    print(f"\nPower-state sweep, {args.count} lab BMCs, lab in a separate process, 2 cores\n")
    print("| method | polls/s | x ipmitool | 10,000 BMCs | errors |")
    print("|---|---:|---:|---:|---:|")
    for name, row in rows:
        ratio = row["rate"] / tool["rate"]
        print(
            f"| {name} | {row['rate']:,.0f} | {ratio:,.1f}x | {10_000 / row['rate']:,.1f} s "
            f"| {row['errors']} |"
        )
    print(
        f"\nMemory per cached session (tracemalloc, logins of {args.count} BMCs): "
        f"{heatsite['bytes_per_session'] / 1024:.1f} KiB; sessions cached: {heatsite['sessions']}"
    )


if __name__ == "__main__":
    main()
