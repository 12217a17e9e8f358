"""Redfish sweep of 200 lab BMCs (power state, power watts, temperatures), side by side in one run.

The lab BMCs (HTTPS, one self-signed certificate each) run in their own processes (``--labs``,
default 2, each one asyncio loop serving its share), on free loopback ports picked by the script.
Their certificates are pinned as the console pins them: the fingerprint of the certificate each
BMC presents on first contact (`fetch_certificate`), checked against the lab's own file (what
``lab_accept_certificates`` accepts). Then, in the same run:

1. Heatsite: `apps.hardware.sweep.sweep(..., sensors=True)`, the call `bmc_sweep_nodes` makes
   for a batch (power state, sensors, power watts per BMC; thread pool, per-site limit, cached
   sessions, pinned TLS, kept-alive connections), in 2 worker processes (Celery ``-c 2``), one
   batch of the fleet per process; and in 1 process. The database writes that `bmc_sweep_nodes`
   does after the sweep are not part of this figure.
2. ``redfishtool`` spawned per BMC, 8 BMCs at a time: ``Systems get -P PowerState``,
   ``Chassis getPowerReading consumed`` and ``Chassis Thermal`` (3 processes per poll, as a
   shell script reading the same three facts would run them).
3. A new ``sushy.Sushy`` client per poll (8 threads): log in, system power state, chassis
   Power and Thermal, log out; TLS verified with the BMC's own certificate as CA bundle (sushy
   cannot pin a fingerprint); sushy's defaults otherwise (``Connection: close``).
4. Raw asyncio keep-alive clients (2 processes, one connection per BMC, Basic auth): once the
   lab's ceiling; Heatsite's own poll path is now about as fast (asyncio's TLS costs CPU too)
   sending the same 3 GETs as a Heatsite poll.

Memory per cached session: one worker process logs in to every BMC; its RSS growth and the
tracemalloc growth over those logins, divided by the number of BMCs.

The 2-process figure is measured ``--rounds`` times (default 5), each on the cached sessions and
kept-alive connections of a warm-up sweep: the table shows the best round, the line under it
the median, the worst and every round with the load average at its start (the sweep threads
themselves count in the load average).

Usage: .venv/bin/python benchmarks/redfish_sweep.py [--count 200] [--seconds 5] [--labs 2]
       [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.hardware.drivers import BmcEndpoint  # noqa: E402
from apps.hardware.drivers.redfish.transport import fetch_certificate  # noqa: E402
from apps.lab.redfish.certs import BmcCertificate  # noqa: E402

USER, PASSWORD = "admin", "password"
POLL_PATHS = (  # what one Heatsite poll asks once the structure is cached
    "/redfish/v1/Systems/1",
    "/redfish/v1/Chassis/1/Sensors?$expand=.($levels=1)",
    "/redfish/v1/Chassis/1/ThermalSubsystem/CoolantConnectors?$expand=.($levels=1)",
)
# the deployed sweep's settings (heatsite/settings.py, same environment variables)
CONCURRENCY = int(os.environ.get("BMC_SWEEP_CONCURRENCY", "64"))
PER_SITE = int(os.environ.get("BMC_SWEEP_PER_SITE", "8"))
TIMEOUT = float(os.environ.get("BMC_TIMEOUT", "5"))
SITE_SIZE = 8  # BMCs per site in the benchmark's fleet (the per-site limit applies per site)


# --- the lab ---------------------------------------------------------------------------------


def _free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:  # as the lab binds: TIME_WAIT leftovers are fine
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pick_ports(count: int, offset: int) -> int:
    """A base port whose UDP (IPMI faces) and TCP (+offset, Redfish) blocks are free: below
    the kernel's ephemeral range (32768 up, where the clients' own connections land), never the
    demo's ranges (16230-16300, 26230-26300)."""
    demo = (range(16230, 16301), range(26230, 26301))
    for base in (30000, 28000, 22000, 20000, 18000):
        ports = [p for b in (base, base + offset) for p in range(b, b + count)]
        if max(ports) >= 32768 or any(p in r for p in ports for r in demo):
            continue
        if all(_free(p) for p in ports):
            return base
    raise SystemExit("no free block of loopback ports below 32768")


def start_labs(count: int, labs: int, state: Path) -> tuple[list[subprocess.Popen], list[dict]]:
    """``labs`` lab processes (IPMI + Redfish faces), ``count`` BMCs in all; their BMCs."""
    offset = 1000
    base = pick_ports(count, offset)
    share = -(-count // labs)
    processes, bmcs = [], []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for k in range(labs):
        first, size = base + k * share, min(share, count - k * share)
        if size <= 0:
            break
        folder = state / f"lab{k}"
        command = [
            sys.executable, "-m", "apps.lab.bmc.cli", "--base-port", str(first),
            "--count", str(size), "--redfish-offset", str(offset),
            "--redfish-state-dir", str(folder), "--username", USER, "--password", PASSWORD,
        ]  # fmt: skip
        lab = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env)
        processes.append(lab)
        for line in lab.stdout:
            if line.startswith("Redfish:"):
                break
        else:
            raise SystemExit(f"lab {k} did not start")
        for i in range(size):
            cert = BmcCertificate.ensure(folder, f"lab-node-{i + 1:03d}")
            bmcs.append(
                {
                    "port": first + i + offset,
                    "fingerprint": cert.fingerprint,
                    "cert_path": str(cert.cert_path),
                    "lab": k,
                }
            )
    return processes, bmcs


def pin(bmcs: list[dict]) -> list[BmcEndpoint]:
    """The console's first contact: the presented certificate's fingerprint, accepted because it
    is the lab's own (``lab_accept_certificates``)."""
    endpoints = []
    for index, bmc in enumerate(bmcs):
        seen = fetch_certificate("127.0.0.1", bmc["port"], timeout=10).fingerprint
        if seen != bmc["fingerprint"]:
            raise SystemExit(f"BMC on port {bmc['port']} presents another certificate")
        endpoints.append(
            BmcEndpoint(
                "127.0.0.1", bmc["port"], USER, PASSWORD, protocol="redfish",
                site=f"site-{index // SITE_SIZE}", tls_fingerprint=seen,
            )
        )  # fmt: skip
    return endpoints


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- 1. Heatsite -----------------------------------------------------------------------------


def _heatsite_worker(endpoints, threads, start_at, seconds, out) -> None:
    """One worker process: log in (a first sweep), wait for the common start, sweep until the
    end, as the poller task does batch after batch."""
    from apps.hardware.sweep import CircuitBreaker, sweep

    breaker = CircuitBreaker()
    options = {"max_concurrency": threads, "per_site_limit": PER_SITE, "timeout": TIMEOUT}
    warm = sweep(endpoints, sensors=True, breaker=breaker, **options)
    polls = failures = sweeps = 0
    while time.time() < start_at:
        time.sleep(0.001)
    cpu = time.process_time()
    while time.time() < start_at + seconds:
        results = sweep(endpoints, sensors=True, breaker=breaker, **options)
        polls += len(results)
        failures += sum(not r.ok for r in results)
        sweeps += 1
        if sweeps == 1:
            sample = results[0]
    out.put(
        {
            "polls": polls,
            "elapsed": time.time() - start_at,  # the last sweep ends after the window
            "errors": failures + sum(not r.ok for r in warm),
            "sweeps": sweeps,
            "cpu": time.process_time() - cpu,
            "sample": (sample.power_state, sample.system_power_watts, len(sample.sensors or [])),
            "messages": [r.message for r in warm if not r.ok][:3],
        }
    )


def bench_heatsite(endpoints, seconds: float, threads: int, processes: int, labs) -> dict:
    context = multiprocessing.get_context("spawn")  # like Celery's prefork: no shared clients
    out = context.Queue()
    start_at = time.time() + 4.0  # time to import and log in to every BMC
    workers = [
        context.Process(
            target=_heatsite_worker,
            args=(endpoints[k::processes], threads, start_at, seconds, out),
        )
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    while time.time() < start_at:
        time.sleep(0.01)
    lab_cpu = [cpu_seconds(lab.pid) for lab in labs]
    load = os.getloadavg()[0]
    results = [out.get(timeout=seconds + 120) for _ in workers]
    lab_cpu = [cpu_seconds(lab.pid) - before for lab, before in zip(labs, lab_cpu, strict=True)]
    for worker in workers:
        worker.join(30)
    polls = sum(r["polls"] for r in results)
    return {
        "rate": sum(r["polls"] / r["elapsed"] for r in results),
        "polls": polls,
        "errors": sum(r["errors"] for r in results),
        "sweeps": [r["sweeps"] for r in results],
        "worker_cpu": sum(r["cpu"] / r["elapsed"] for r in results),
        "lab_cpu": sum(lab_cpu) / max(r["elapsed"] for r in results),
        "load": load,
        "sample": results[0]["sample"],
        "messages": [m for r in results for m in r["messages"]],
    }


def _memory_worker(endpoints, out) -> None:
    from apps.hardware.drivers.redfish import transport
    from apps.hardware.sweep import CircuitBreaker, sweep

    breaker = CircuitBreaker()
    options = {"max_concurrency": 16, "timeout": TIMEOUT, "breaker": breaker}
    sweep(endpoints[:1], sensors=True, **options)  # imports, one client
    sweep(endpoints[:16], sensors=False, **options)  # the pool's threads exist
    transport.close_all()
    rss_before = rss_kib()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    results = sweep(endpoints, sensors=True, **options)  # logs in to every BMC, reads once
    ok = sum(r.ok for r in results)
    del results  # the readings are not the sessions'
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    out.put(
        {
            "sessions": transport.cached_clients(),
            "ok": ok,
            "rss_kib": rss_kib() - rss_before,
            "traced": grown,
        }
    )


def bench_memory(endpoints) -> dict:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    worker = context.Process(target=_memory_worker, args=(endpoints, out))
    worker.start()
    result = out.get(timeout=300)
    worker.join(30)
    return result


# --- 1b. Heatsite with its database: `bmc_sweep_nodes` --------------------------------------


def setup_database(folder: Path, bmcs: list[dict]) -> list[int] | None:
    """A throw-away SQLite database (WAL, as the settings set it up) with the 200 nodes, their
    certificates accepted; pushes go to the in-memory channel layer. None when it cannot be
    built (the reason is printed)."""
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["CHANNELS_IN_MEMORY"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from apps.sites.models import Node, Organisation, Site

        call_command("migrate", verbosity=0)
        partner = Organisation.objects.create(name="Bench partner", kind="partner")
        ids = []
        for index, bmc in enumerate(bmcs):
            if index % SITE_SIZE == 0:
                site = Site.objects.create(
                    code=f"bench-{index // SITE_SIZE:03d}", name=f"Bench site {index}",
                    city="Lyon", partner=partner, timezone="Europe/Paris",
                    contract_min_supply_c=60, nominal_capacity_kw=40,
                )  # fmt: skip
            node = Node(
                site=site, name=f"bench-node-{index:03d}", bmc_protocol="redfish",
                bmc_host="127.0.0.1", redfish_port=bmc["port"], bmc_username=USER,
                bmc_tls_fingerprint=bmc["fingerprint"], bmc_cert_fingerprint=bmc["fingerprint"],
            )  # fmt: skip
            node.set_bmc_password(PASSWORD)
            node.save()
            ids.append(node.pk)
        return ids
    except Exception as exc:  # a migration graph in flux, a settings problem: say so, go on
        print(f"bmc_sweep_nodes with a database: skipped ({type(exc).__name__}: {exc})")
        return None


def _database_worker(ids, start_at, seconds, out) -> None:
    import django

    django.setup()
    from apps.hardware import services
    from apps.hardware import sweep as sweep_module

    spent = [0.0]
    real_sweep = sweep_module.sweep

    def timed_sweep(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real_sweep(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    sweep_module.sweep = timed_sweep  # bmc_sweep_nodes imports it at each call
    warm = services.bmc_sweep_nodes(ids)
    polls = failures = 0
    while time.time() < start_at:
        time.sleep(0.001)
    spent[0] = 0.0
    while time.time() < start_at + seconds:
        counts = services.bmc_sweep_nodes(ids)
        polls += counts["polled"]
        failures += counts["failed"]
    elapsed = time.time() - start_at
    out.put(
        {
            "polls": polls,
            "elapsed": elapsed,
            "errors": failures + warm["failed"],
            "sweep_share": spent[0] / elapsed,
        }
    )


def bench_database(ids: list[int], seconds: float, processes: int) -> dict:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start_at = time.time() + 6.0  # django.setup, logins
    workers = [
        context.Process(target=_database_worker, args=(ids[k::processes], start_at, seconds, out))
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=seconds + 180) for _ in workers]
    for worker in workers:
        worker.join(30)
    return {
        "rate": sum(r["polls"] / r["elapsed"] for r in results),
        "polls": sum(r["polls"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "sweep_share": sum(r["sweep_share"] for r in results) / len(results),
    }


# --- 2. redfishtool --------------------------------------------------------------------------


def bench_redfishtool(bmcs: list[dict]) -> dict | None:
    tool = shutil.which("redfishtool")
    if tool is None:
        print("redfishtool is not installed (Debian: apt-get install redfishtool): skipped")
        return None

    def one(bmc: dict) -> bool:
        base = [tool, "-r", f"127.0.0.1:{bmc['port']}", "-u", USER, "-p", PASSWORD, "-S", "Always"]
        runs = (
            ["-P", "PowerState", "Systems", "-1", "get"],
            ["Chassis", "-1", "getPowerReading", "consumed"],
            ["Chassis", "-1", "Thermal"],
        )
        outputs = []
        for args in runs:
            done = subprocess.run(base + args, capture_output=True, text=True, timeout=60)
            outputs.append(done.stdout if done.returncode == 0 else "")
        return (
            '"PowerState"' in outputs[0]
            and "PowerConsumedWatts" in outputs[1]
            and "ReadingCelsius" in outputs[2]
        )

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        ok = list(pool.map(one, bmcs))
    elapsed = time.monotonic() - start
    return {"rate": len(bmcs) / elapsed, "polls": len(bmcs), "errors": ok.count(False)}


# --- 3. sushy, a new client per poll ---------------------------------------------------------


def _sushy_worker(bmcs, seconds, threads, out) -> None:
    import sushy

    count = [0, 0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(offset: int) -> None:
        i = offset
        while time.monotonic() < stop:
            bmc = bmcs[i % len(bmcs)]
            i += threads
            try:
                client = sushy.Sushy(
                    f"https://127.0.0.1:{bmc['port']}/redfish/v1/",
                    username=USER, password=PASSWORD, verify=bmc["cert_path"],
                )  # fmt: skip
                state = client.get_system("/redfish/v1/Systems/1").power_state
                chassis = client.get_chassis("/redfish/v1/Chassis/1")
                watts = chassis.power.json["PowerControl"][0]["PowerConsumedWatts"]  # not modelled
                temps = [t.reading_celsius for t in chassis.thermal.temperatures]
                client._auth.close()  # log out now (sushy would on garbage collection)
                client._auth = None
                good = state is not None and watts is not None and temps
                with lock:
                    count[0 if good else 1] += 1
            except Exception:
                with lock:
                    count[1] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 60)
    out.put({"polls": count[0], "errors": count[1], "seconds": time.monotonic() - started})


def bench_sushy(bmcs, seconds: float, threads: int = 8) -> dict:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    worker = context.Process(target=_sushy_worker, args=(bmcs, seconds, threads, out))
    worker.start()
    result = out.get(timeout=seconds + 180)
    worker.join(30)
    return {"rate": result["polls"] / result["seconds"], **result}


# --- 4. the lab's ceiling --------------------------------------------------------------------


async def _raw_poller(bmc, stop: float, out: list) -> None:
    context = ssl.create_default_context(cafile=bmc["cert_path"])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", bmc["port"], ssl=context, server_hostname="127.0.0.1"
    )
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    while time.monotonic() < stop:
        for path in POLL_PATHS:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
                "OData-Version: 4.0\r\n\r\n".encode()
            )
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head[:60])
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)))
        out.append(1)
    writer.close()


def _ceiling_worker(bmcs, seconds, out) -> None:
    polls: list[int] = []

    async def main() -> float:
        start = time.monotonic()
        await asyncio.gather(*(_raw_poller(b, start + seconds, polls) for b in bmcs))
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    out.put({"polls": len(polls), "seconds": elapsed})


def bench_ceiling(bmcs, seconds: float, processes: int, labs) -> dict:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [
        context.Process(target=_ceiling_worker, args=(bmcs[k::processes], seconds, out))
        for k in range(processes)
    ]
    lab_cpu = [cpu_seconds(lab.pid) for lab in labs]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    lab_cpu = [cpu_seconds(lab.pid) - before for lab, before in zip(labs, lab_cpu, strict=True)]
    for worker in workers:
        worker.join(30)
    elapsed = max(r["seconds"] for r in results)
    polls = sum(r["polls"] for r in results)
    return {"rate": polls / elapsed, "polls": polls, "errors": 0, "lab_cpu": sum(lab_cpu) / elapsed}


# --- the run ---------------------------------------------------------------------------------


def stop_labs(labs: list[subprocess.Popen]) -> None:
    for lab in labs:
        lab.terminate()
    for lab in labs:
        lab.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--labs", type=int, default=2, help="lab processes")
    parser.add_argument("--processes", type=int, default=2, help="worker processes (Celery -c)")
    parser.add_argument("--threads", type=int, default=CONCURRENCY, help="sweep threads")
    parser.add_argument("--tool-count", type=int, default=40, help="BMCs polled by redfishtool")
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of the 2-process figure (best and median)"
    )
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="redfish-sweep-bench-"))
    load_start = os.getloadavg()
    labs, bmcs = start_labs(args.count, args.labs, state)
    try:
        endpoints = pin(bmcs)
        memory = bench_memory(endpoints)
        rounds = [
            bench_heatsite(endpoints, args.seconds, args.threads, args.processes, labs)
            for _ in range(max(1, args.rounds))
        ]
        heatsite = max(rounds, key=lambda r: r["rate"])
        single = bench_heatsite(endpoints, args.seconds, args.threads, 1, labs)
        ids = setup_database(state, bmcs)
        database = bench_database(ids, args.seconds, args.processes) if ids else None
        fresh = bench_sushy(bmcs, args.seconds)
        tool = bench_redfishtool(bmcs[: args.tool_count])
        ceiling = bench_ceiling(bmcs, args.seconds, 2, labs)
    finally:
        stop_labs(labs)
    try:  # the same fleet served by one lab process: does the lab need two?
        labs, bmcs = start_labs(args.count, 1, state / "one")
        pin(bmcs)
        ceiling_one = bench_ceiling(bmcs, args.seconds, 2, labs)
    finally:
        stop_labs(labs)
        shutil.rmtree(state, ignore_errors=True)
    load_end = os.getloadavg()

    base = tool["rate"] if tool else None
    rows = [
        (f"**Heatsite: {args.processes} worker processes**", heatsite, "3"),
        ("Heatsite, 1 worker process", single, "3"),
        (
            f"Heatsite `bmc_sweep_nodes` with its database (SQLite), {args.processes} processes",
            database,
            "3",
        ),
        ("new sushy client per poll (8 threads)", fresh, "7, a TLS handshake each"),
        ("redfishtool spawned per BMC (8 at a time)", tool, "11 in 3 processes"),
        (f"raw keep-alive asyncio client, {args.labs} lab processes", ceiling, "3"),
        ("raw keep-alive asyncio client, 1 lab process", ceiling_one, "3"),
    ]
    print(
        f"\nRedfish sweep, {args.count} lab BMCs in {args.labs} lab processes, 2 cores; "
        f"{args.threads} threads and {PER_SITE} per site per worker; {args.seconds:.0f} s each\n"
    )
    print("| method | polls/s | x redfishtool | requests per poll | 10,000 BMCs | errors |")
    print("|---|---:|---:|---|---:|---:|")
    for name, row, requests in rows:
        if row is None:
            print(f"| {name} | skipped | | {requests} | | |")
            continue
        ratio = f"{row['rate'] / base:,.1f}x" if base else "n/a"
        print(
            f"| {name} | {row['rate']:,.{0 if row['rate'] >= 10 else 2}f} | {ratio} | {requests} "
            f"| {10_000 / row['rate']:,.1f} s | {row['errors']} |"
        )
    print(
        f"\n(a)/(c) Heatsite / new sushy client per poll: {heatsite['rate'] / fresh['rate']:.1f}x"
    )
    if base:
        print(f"(a)/(b) Heatsite / redfishtool: {heatsite['rate'] / base:.1f}x")
    rates = sorted(r["rate"] for r in rounds)
    print(
        f"Heatsite, {args.processes} worker processes, {len(rounds)} rounds: best "
        f"{rates[-1]:,.0f}, median {statistics.median(rates):,.0f}, worst {rates[0]:,.0f} polls/s; "
        "per round (polls/s @ load average at its start): "
        + ", ".join(f"{r['rate']:,.0f} @ {r['load']:.1f}" for r in rounds)
    )
    print(
        f"Best Heatsite round: workers used {heatsite['worker_cpu']:.2f} cores, the labs "
        f"{heatsite['lab_cpu']:.2f} cores (of 2); load average {heatsite['load']:.1f}; "
        f"sweeps per worker {heatsite['sweeps']}; sample poll (state, W, sensors) "
        f"{heatsite['sample']}"
    )
    if database:
        print(
            f"bmc_sweep_nodes: the sweep itself took {100 * database['sweep_share']:.0f} % of "
            "each worker's time, the database writes and bookkeeping the rest"
        )
    print(
        f"Raw asyncio client runs: the labs used {ceiling['lab_cpu']:.2f} cores "
        f"({args.labs} processes), "
        f"{ceiling_one['lab_cpu']:.2f} cores (1 process)"
    )
    print(
        f"Memory per cached session ({memory['sessions']} sessions, {memory['ok']} polls ok): "
        f"RSS {memory['rss_kib'] / memory['sessions']:.1f} KiB, tracemalloc "
        f"{memory['traced'] / memory['sessions'] / 1024:.1f} KiB"
    )
    print(f"Load average: {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end")
    if heatsite["messages"]:
        print("First errors:", heatsite["messages"])


if __name__ == "__main__":
    main()
