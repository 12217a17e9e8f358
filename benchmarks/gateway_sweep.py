"""BMC polls through site gateways on RabbitMQ, against direct polling, on the same lab BMCs.

(a) Overhead of the gateway path. The same 200 lab BMCs (IPMI, one lab process, as
    ``bmc_sweep.py``) are swept with sensors (what the gateway's ``gw.bmc_poll`` does), split
    over P processes each owning 200/P BMCs, in alternating rounds:

    - direct: each process runs ``apps.hardware.sweep.sweep()`` (16 threads) in a loop;
    - gateway: each process is a real gateway agent (``python -m apps.gateways.agent``, its own
      RabbitMQ user restricted to its queue, threads pool ``concurrency = 4`` -> 16 sweep
      threads). This process plays the central side: it seals each call to the gateway's key,
      publishes it to ``gw.<name>``, and consumes the signed answers from ``central.results``
      (signature verified); each answer sends that gateway's next call. ``--inflight 2`` splits
      each gateway's BMCs in two calls kept in flight at once (the next sweep overlaps the
      previous answer's round trip).

    Both sides exclude the database write of the results (``bmc_sweep_store``, the same code on
    both paths). polls/s = polls answered / (last answer - start of the round).

(b) Fleet sweep over 100 site queues: 100 gateways enrolled (100 RabbitMQ users, 100 queues,
    100 key pairs), 2 BMCs each, hosted by H OS processes. The agent's Celery worker consumes one
    queue per process (``-Q gw.<name>``), so a host here builds the agent's ``Gateway`` objects
    (the same task code: unseal, sweep, sign, publish as that gateway's user) and consumes each
    gateway's queue on that gateway's own connection with kombu instead of Celery's worker loop.
    One sweep = the central side seals and publishes 100 calls, then waits for the 100 answers.

Uses a RabbitMQ vhost and users of its own (deleted at the end) and no database. Usage:

    .venv/bin/python benchmarks/gateway_sweep.py [--count 200] [--seconds 8] [--rounds 3]
        [--processes 2] [--fleet-gateways 100] [--fleet-hosts 2] [--fleet-sweeps 5]
"""

from __future__ import annotations

import argparse
import faulthandler
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from celery import Celery  # noqa: E402
from kombu import Connection, Consumer, Exchange, Queue  # noqa: E402

from apps.gateways import crypto, wire  # noqa: E402
from apps.hardware.drivers import BmcEndpoint  # noqa: E402
from apps.hardware.sweep import CircuitBreaker, sweep  # noqa: E402

RABBIT = "127.0.0.1:5672"
THREADS = 16  # direct sweep threads = the gateway's concurrency 4 x 4
RESULTS = Queue(
    wire.RESULTS_QUEUE, Exchange(wire.RESULTS_EXCHANGE, "direct"), routing_key=wire.RESULTS_QUEUE
)


def start_lab(count: int) -> tuple[subprocess.Popen, list[int]]:
    """The IPMI lab (no Redfish faces: they are not polled here) on a free block of ports."""
    command = [sys.executable, "-m", "apps.lab.bmc.cli", "--base-port", "0", "--no-redfish"]
    lab = subprocess.Popen(
        [*command, "--count", str(count)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    line = lab.stdout.readline()
    match = re.search(r":(\d+)-(\d+)", line)
    if not match:
        lab.kill()
        raise SystemExit(f"lab did not start: {line!r}")
    return lab, list(range(int(match.group(1)), int(match.group(2)) + 1))


# -- RabbitMQ: a vhost and gateway users of our own ---------------------------------------------


def ctl(*args: str, stdin: str | None = None) -> None:
    done = subprocess.run(
        ["rabbitmqctl", "--quiet", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {args[0]}: {(done.stderr or done.stdout).strip()}")


class Broker:
    def __init__(self) -> None:
        self.vhost = f"heatsite-bench-gw-{os.getpid()}"
        self.tag = uuid.uuid4().hex[:6]
        self.users: list[str] = []
        ctl("add_vhost", self.vhost)
        ctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        self.central_url = f"amqp://guest:guest@{RABBIT}/{self.vhost}"

    def gateway(self, index: int) -> tuple[str, str]:
        """A gateway name and its broker URL (its own user, its own queue only)."""
        name = f"b{self.tag}-{index:05d}"
        password = secrets.token_urlsafe(16)
        user = wire.rabbit_user(name)
        ctl("add_user", user, stdin=password + "\n")
        self.users.append(user)
        ctl("set_permissions", "-p", self.vhost, user, *wire.permissions(name))
        return name, f"amqp://{quote(user)}:{quote(password, safe='')}@{RABBIT}/{self.vhost}"

    def gateways(self, start: int, count: int) -> list[tuple[str, str]]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(self.gateway, range(start, start + count)))

    def close(self) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda u: ctl("delete_user", u), self.users))
        ctl("delete_vhost", self.vhost)


# -- the central side ---------------------------------------------------------------------------


class Central:
    """Seals and publishes calls to gateways, consumes and verifies their signed answers."""

    def __init__(self, url: str) -> None:
        self.app = Celery("bench-central", broker=url, fixups=[], set_as_current=False)
        self.app.conf.update(task_serializer="json", accept_content=["json"])
        self.connection = Connection(url)
        RESULTS.bind(self.connection.default_channel).declare()
        self.publishing = Connection(url)  # not the consuming one: no re-entry on publish
        self.producer = self.app.amqp.Producer(self.publishing.channel())
        self.keys: dict[str, crypto.GatewayKeys] = {}
        self.on_answer = lambda gateway, call_id, polls, ok: None
        self.later: list[tuple[str, list[BmcEndpoint], dict]] = []  # sent after the callback
        self.lock = threading.Lock()
        self.consumer = Consumer(self.connection.channel(), [RESULTS], callbacks=[self._message])
        self.consumer.consume()

    def send(self, gateway: str, endpoints: list[BmcEndpoint]) -> str:
        call_id = uuid.uuid4().hex
        plain = [
            {
                "node_id": i,
                "endpoint": {
                    "host": e.host,
                    "port": e.port,
                    "username": e.username,
                    "password": e.password,
                },
            }
            for i, e in enumerate(endpoints)
        ]
        call = {
            "call_id": call_id,
            "gateway": gateway,
            "start_by": time.time() + 120,
            "sealed": crypto.seal(
                self.keys[gateway].box_public, {"endpoints": plain}, aad=f"{gateway}:{call_id}"
            ),
        }
        queue = wire.queue_name(gateway)
        with self.lock:
            self.app.send_task(
                wire.BMC_POLL_TASK,
                args=[call],
                exchange=queue,
                routing_key=queue,
                expires=120,
                producer=self.producer,
            )
        return call_id

    def _message(self, body, message) -> None:
        args = body[0] if isinstance(body, list | tuple) else body["args"]
        document, signature = args
        message.ack()
        if document.get("kind") != "bmc_poll":
            return  # heartbeats
        name = document["gateway"]
        crypto.verify(self.keys[name].signing_public, document, signature)
        results = document["payload"]["results"]
        self.on_answer(name, document["call_id"], len(results), sum(r["ok"] for r in results))

    def drain_until(self, condition, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("gateways did not answer in time")
            try:
                self.connection.drain_events(timeout=1)
            except TimeoutError:
                continue
            while self.later:
                gateway, chunk, open_calls = self.later.pop()
                open_calls[self.send(gateway, chunk)] = chunk


def round_through(central: Central, chunks: dict[str, list[list[BmcEndpoint]]], seconds: float):
    """Keeps one call per chunk in flight for ``seconds``; returns (polls/s, polls, errors)."""
    state = {"polls": 0, "ok": 0, "open": {}, "stop": False, "last": 0.0}

    def answer(gateway, call_id, polls, ok):
        chunk = state["open"].pop(call_id, None)
        if chunk is None:
            return
        state["polls"] += polls
        state["ok"] += ok
        state["last"] = time.monotonic()
        if not state["stop"]:
            central.later.append((gateway, chunk, state["open"]))

    central.on_answer = answer
    start = time.monotonic()
    for gateway, parts in chunks.items():
        for chunk in parts:
            state["open"][central.send(gateway, chunk)] = chunk

    def done() -> bool:
        if time.monotonic() - start >= seconds:
            state["stop"] = True
        return state["stop"] and not state["open"]

    central.drain_until(done, timeout=seconds + 300)
    elapsed = state["last"] - start
    return state["polls"] / elapsed, state["polls"], state["polls"] - state["ok"]


# -- direct polling -----------------------------------------------------------------------------


def _direct_process(endpoints, start_at: float, seconds: float, out) -> None:
    breaker = CircuitBreaker()
    sweep(endpoints, max_concurrency=THREADS, breaker=breaker, sensors=True)  # logins
    while time.time() < start_at:
        time.sleep(0.001)
    polls = failures = 0
    while time.time() < start_at + seconds:
        results = sweep(endpoints, max_concurrency=THREADS, breaker=breaker, sensors=True)
        polls += len(results)
        failures += sum(not r.ok for r in results)
    out.put({"polls": polls, "errors": failures, "end": time.time()})


def round_direct(endpoints, processes: int, seconds: float):
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start_at = time.time() + 5.0  # import and log in first
    workers = [
        context.Process(
            target=_direct_process, args=(endpoints[k::processes], start_at, seconds, out)
        )
        for k in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=seconds + 300) for _ in workers]
    for worker in workers:
        worker.join(60)
    polls = sum(r["polls"] for r in results)
    elapsed = max(r["end"] for r in results) - start_at
    return polls / elapsed, polls, sum(r["errors"] for r in results)


# -- gateway agents -----------------------------------------------------------------------------


def gateway_files(directory: Path, name: str, url: str, keys, concurrency: int = 4) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    crypto.keys_write(keys, directory / "gateway.key")
    config = directory / "gateway.toml"
    config.write_text(
        f'name = "{name}"\nbroker_url = "{url}"\nprivate_key = "{directory / "gateway.key"}"\n'
        f'state_dir = "{directory / "state"}"\nconcurrency = {concurrency}\nbmc_timeout = 5\n'
    )
    return config


def agent_start(config: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "apps.gateways.agent", "--config", str(config)],
            cwd=ROOT,
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while "ready." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"gateway agent did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)  # waiting on a process to start, not a measurement
    return proc


# -- (b) many gateways per OS process ----------------------------------------------------------


def _host_process(gateways: list[tuple[str, str, str, str]], ready, stop) -> None:
    """Hosts several gateways: the agent's Gateway objects, one connection per gateway."""
    from apps.gateways import agent
    from apps.hardware import sweep as sweep_module

    # sweep() shares one thread pool per size in a process: a gateway with 2 BMCs uses the pool
    # of 2. Alone in its process that is its own; here every hosted gateway would share those 2
    # threads, so the pool is widened to what 8 gateways' processes would have between them.
    sweep_module._pools[2] = ThreadPoolExecutor(16, thread_name_prefix="bmc-sweep-hosted")
    pool = ThreadPoolExecutor(8)
    connections = []

    def serve(gateway: agent.Gateway, url: str) -> None:
        connection = Connection(url)
        connections.append(connection)
        queue = Queue(gateway.queue, Exchange(gateway.queue, "direct"), routing_key=gateway.queue)

        def handle(body, message):
            message.ack()
            pool.submit(gateway.bmc_poll_call, body[0][0])

        with Consumer(connection.channel(), [queue], callbacks=[handle], prefetch_count=1):
            ready.put(gateway.config.name)
            while not stop.is_set():
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    continue

    threads = []
    for name, url, key, state in gateways:
        config = agent.GatewayConfig(
            name=name, broker_url=url, private_key=Path(key), state_dir=Path(state), concurrency=1
        )
        gateway = agent.Gateway(config)
        thread = threading.Thread(target=serve, args=(gateway, url), daemon=True)
        thread.start()
        threads.append(thread)
    stop.wait()
    for thread in threads:
        thread.join(10)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fleet(central, broker, endpoints, tmp: Path, count: int, hosts: int, sweeps: int) -> dict:
    started = time.monotonic()
    enrolled = broker.gateways(10_000, count)
    enrol_seconds = time.monotonic() - started
    specs = []
    for name, url in enrolled:
        keys = crypto.keys_generate()
        central.keys[name] = keys
        directory = tmp / name
        directory.mkdir()
        crypto.keys_write(keys, directory / "gateway.key")
        specs.append((name, url, str(directory / "gateway.key"), str(directory / "state")))
    share = {name: endpoints[i::count] for i, (name, _url) in enumerate(enrolled)}
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    procs = [
        context.Process(target=_host_process, args=(specs[k::hosts], ready, stop))
        for k in range(hosts)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in specs:
            ready.get(timeout=300)
        times, dispatch, polls = [], [], 0
        answered: set[str] = set()
        central.on_answer = lambda gateway, call_id, n, ok: answered.add(gateway)
        for round_index in range(sweeps + 1):  # the first one logs in: not counted
            answered.clear()
            start = time.monotonic()
            for name in share:
                central.send(name, share[name])
            sent = time.monotonic() - start
            central.drain_until(lambda: len(answered) == len(share))
            if round_index:
                times.append(time.monotonic() - start)
                dispatch.append(sent)
                polls += len(endpoints)
        rss = [rss_kib(p.pid) for p in procs]
    finally:
        stop.set()
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    return {
        "enrol_seconds": enrol_seconds,
        "median": statistics.median(times),
        "max": max(times),
        "dispatch": statistics.median(dispatch),
        "rate": polls / sum(times),
        "rss_per_gateway_kib": sum(rss) / count,
        "rss_per_host_mib": [r / 1024 for r in rss],
    }


# -- main ---------------------------------------------------------------------------------------


def main() -> None:
    faulthandler.register(signal.SIGUSR1)  # a stuck run tells where it waits
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # clean up the broker on kill
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="lab BMCs")
    parser.add_argument("--seconds", type=float, default=8.0, help="per measured round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating direct/gateway rounds")
    parser.add_argument("--processes", type=int, default=2, help="direct processes = gateways")
    parser.add_argument("--inflight", type=int, default=1, help="calls in flight per gateway")
    parser.add_argument("--fleet-gateways", type=int, default=100)
    parser.add_argument("--fleet-hosts", type=int, default=2)
    parser.add_argument("--fleet-sweeps", type=int, default=5)
    parser.add_argument("--skip-fleet", action="store_true")
    args = parser.parse_args()
    if shutil.which("rabbitmqctl") is None:
        raise SystemExit("gateway_sweep: needs RabbitMQ's rabbitmqctl (not installed)")
    try:
        host, port = RABBIT.split(":")
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as error:
        raise SystemExit(f"gateway_sweep: RabbitMQ does not answer on {RABBIT}: {error}") from None
    load_start = os.getloadavg()
    lab, ports = start_lab(args.count)
    endpoints = [BmcEndpoint("127.0.0.1", p, "admin", "password") for p in ports]
    broker = Broker()
    agents: list[subprocess.Popen] = []
    rows, fleet_row = [], None
    try:
        with tempfile.TemporaryDirectory(prefix="heatsite-bench-gw-") as tmp_name:
            tmp = Path(tmp_name)
            central = Central(broker.central_url)
            chunks = {}
            for index, (name, url) in enumerate(broker.gateways(0, args.processes)):
                keys = central.keys[name] = crypto.keys_generate()
                config = gateway_files(tmp / name, name, url, keys)
                agents.append(agent_start(config, tmp / f"{name}.log"))
                share = endpoints[index :: args.processes]
                chunks[name] = [share[k :: args.inflight] for k in range(args.inflight)]
            round_through(central, chunks, 0.0)  # logins and warm-up
            for _ in range(args.rounds):
                rows.append(("direct", round_direct(endpoints, args.processes, args.seconds)))
                rows.append(("gateway", round_through(central, chunks, args.seconds)))
            for proc in agents:
                proc.terminate()
                proc.wait(30)
            if not args.skip_fleet:
                fleet_row = fleet(
                    central,
                    broker,
                    endpoints,
                    tmp,
                    args.fleet_gateways,
                    args.fleet_hosts,
                    args.fleet_sweeps,
                )
    finally:
        for proc in agents:
            if proc.poll() is None:
                proc.kill()
        lab.terminate()
        lab.wait(10)
        broker.close()
    load_end = os.getloadavg()
    report(args, rows, fleet_row, load_start, load_end)


def report(args, rows, fleet_row, load_start, load_end) -> None:
    direct = [r for kind, r in rows if kind == "direct"]
    gateway = [r for kind, r in rows if kind == "gateway"]
    if rows:
        report_overhead(args, direct, gateway)
    if fleet_row:
        report_fleet(args, fleet_row)
    print(
        f"\nload average at start {load_start[0]:.1f} / {load_start[1]:.1f} / {load_start[2]:.1f}, "
        f"at end {load_end[0]:.1f} / {load_end[1]:.1f} / {load_end[2]:.1f}"
    )


def report_overhead(args, direct, gateway) -> None:
    d_med = statistics.median(r[0] for r in direct)
    g_med = statistics.median(r[0] for r in gateway)
    print(
        f"\n(a) {args.count} lab BMCs (IPMI, power state + sensors), {args.processes} processes, "
        f"{THREADS} threads each, {args.inflight} call(s) in flight per gateway, "
        f"{args.seconds:.0f} s rounds\n"
    )
    print("| round | direct polls/s | gateway polls/s | gateway / direct | errors (d/g) |")
    print("|---|---:|---:|---:|---:|")
    for k, (d, g) in enumerate(zip(direct, gateway, strict=True), 1):
        print(f"| {k} | {d[0]:,.0f} | {g[0]:,.0f} | {g[0] / d[0]:.0%} | {d[2]}/{g[2]} |")
    print(f"| **median** | **{d_med:,.0f}** | **{g_med:,.0f}** | **{g_med / d_med:.0%}** | |")
    paired = statistics.median(g[0] / d[0] for d, g in zip(direct, gateway, strict=True))
    print(
        f"\ngateway path: {1 - g_med / d_med:.0%} fewer polls/s (medians), "
        f"{1 - paired:.0%} (median of the rounds' ratios); target <= 25 %"
    )


def report_fleet(args, f) -> None:
    print(
        f"\n(b) fleet sweep: {args.fleet_gateways} gateways (own users and queues) in "
        f"{args.fleet_hosts} processes, {args.count} BMCs\n"
    )
    print("| figure | value |")
    print("|---|---:|")
    print(f"| sweep of {args.fleet_gateways} site queues, median | {f['median']:.2f} s |")
    print(f"| sweep, worst of {args.fleet_sweeps} | {f['max']:.2f} s |")
    print(
        f"| central dispatch (seal + publish {args.fleet_gateways} calls) | "
        f"{f['dispatch'] * 1000:.0f} ms |"
    )
    print(f"| polls/s over the sweeps | {f['rate']:,.0f} |")
    print(f"| RSS per hosted gateway | {f['rss_per_gateway_kib']:,.0f} KiB |")
    print(f"| RSS per host process | {', '.join(f'{r:.0f}' for r in f['rss_per_host_mib'])} MiB |")
    print(
        f"| enrolling {args.fleet_gateways} RabbitMQ users (rabbitmqctl, 8 at a time) | "
        f"{f['enrol_seconds']:.0f} s |"
    )


if __name__ == "__main__":
    main()
