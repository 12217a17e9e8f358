"""One console broker holding many open consoles with output flowing, and its memory per console.

The lab BMCs run in their own process (``python -m apps.lab.bmc.cli``); this process is the
broker alone (its asyncio loop, pump thread and worker pool) on an in-memory channel layer,
with a temporary SQLite database holding the nodes and console sessions. Every console gets
one viewer; once all are connected, each viewer's keyboard types ``date`` every second and a
subscriber on every console's group counts the output that comes back.

Memory per console = (RSS with all consoles open - RSS before opening) / consoles.

    .venv/bin/python benchmarks/console_capacity.py [--count 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="heatsite-console-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
os.environ["DATABASE_URL"] = f"sqlite:///{TMP / 'bench.sqlite3'}"

import django  # noqa: E402

django.setup()

from channels.layers import InMemoryChannelLayer  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from apps.accounts.models import Role, User  # noqa: E402
from apps.console import conf  # noqa: E402
from apps.console.broker import ConsoleBroker  # noqa: E402
from apps.console.models import ConsoleSession  # noqa: E402
from apps.console.protocol import BROKER_CHANNEL, output_group  # noqa: E402
from apps.sites.models import Node, Organisation, Site  # noqa: E402


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def start_lab(count: int) -> tuple[subprocess.Popen, int]:
    for _ in range(20):
        base = random.randrange(20000, 60000 - count)
        proc = subprocess.Popen(
            [sys.executable, "-m", "apps.lab.bmc.cli", "--base-port", str(base), "--count",
             str(count), "--idle-timeout", "600"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        line = proc.stdout.readline()
        if proc.poll() is None and line:
            return proc, base
        proc.wait()
    raise RuntimeError("could not start the lab BMCs")


def seed(count: int, base: int) -> list[tuple[int, int, int]]:
    """(node id, session id, user id) per console."""
    call_command("migrate", verbosity=0)
    org = Organisation.objects.create(name="Bench partner")
    site = Site.objects.create(code="bench-0001", name="Bench", partner=org, timezone="UTC")
    user = User.objects.create(username="bench-engineer", role=Role.ENGINEER)
    rows = []
    for i in range(count):
        node = Node(site=site, name=f"lab-node-{i + 1:03d}", bmc_host="127.0.0.1",
                    bmc_port=base + i, bmc_username="admin")  # fmt: skip
        node.set_bmc_password("password")
        node.save()
        session = ConsoleSession.objects.create(node=node, user=user, username=user.username)
        rows.append((node.pk, session.pk, user.pk))
    return rows


async def run(rows: list[tuple[int, int, int]], seconds: float) -> dict:
    layer = InMemoryChannelLayer(capacity=100000)
    broker = ConsoleBroker(layer=layer, workers=32)
    task = asyncio.create_task(broker.run())
    while not broker.ready.is_set():
        await asyncio.sleep(0.01)
    viewer = await layer.new_channel()
    for node_id, _, _ in rows:
        await layer.group_add(output_group(node_id), viewer)
    received = {"bytes": 0, "messages": 0}

    async def drain() -> None:
        while True:
            message = await layer.receive(viewer)
            if message["type"] in ("console.output", "console.replay"):
                received["bytes"] += len(message["data"])
                received["messages"] += 1

    drainer = asyncio.create_task(drain())
    rss_before = rss_kib()
    started = time.perf_counter()
    for node_id, session_id, user_id in rows:
        await layer.send(BROKER_CHANNEL, {
            "type": "console.open", "node_id": node_id, "session_id": session_id,
            "user_id": user_id, "name": "bench", "channel": viewer,
        })  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        states = [c.state for c in broker.consoles.values()]
        if len(states) == len(rows) and all(s == "connected" for s in states):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"consoles not connected: {sorted(set(states))}")
        await asyncio.sleep(0.1)
    open_s = time.perf_counter() - started
    await asyncio.sleep(1)
    rss_open = rss_kib()

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    bytes0 = received["bytes"]
    flow_started = time.perf_counter()
    while time.perf_counter() - flow_started < seconds:
        for node_id, session_id, _ in rows:
            await layer.send(BROKER_CHANNEL, {
                "type": "console.input", "node_id": node_id, "session_id": session_id,
                "data": b"date\r",
            })  # fmt: skip
        await asyncio.sleep(1)
    await asyncio.sleep(1)
    elapsed = time.perf_counter() - flow_started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    connected = sum(1 for c in broker.consoles.values() if c.state == "connected")
    drainer.cancel()
    broker.stop()
    await asyncio.wait_for(task, timeout=60)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "consoles": len(rows),
        "connected_at_end": connected,
        "open_all_s": open_s,
        "rss_before_mib": rss_before / 1024,
        "rss_open_mib": rss_open / 1024,
        "per_console_kib": (rss_open - rss_before) / len(rows),
        "replay_limit_kib": conf.replay_bytes() / 1024,
        "output_kib_s": (received["bytes"] - bytes0) / 1024 / elapsed,
        "broker_cpu_pct": 100 * cpu / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    settings.CONSOLE_LOG_DIR = TMP / "console"
    settings.CONSOLE_IDLE_TIMEOUT = 3600
    lab, base = start_lab(args.count)
    try:
        rows = seed(args.count, base)
        result = asyncio.run(run(rows, args.seconds))
    finally:
        lab.terminate()
        lab.wait(timeout=10)
    print(f"consoles open in one broker:   {result['consoles']} "
          f"(still connected at the end: {result['connected_at_end']})")  # fmt: skip
    print(f"time to open all:              {result['open_all_s']:.2f} s")
    print(f"broker RSS before / all open:  {result['rss_before_mib']:.1f} / "
          f"{result['rss_open_mib']:.1f} MiB")  # fmt: skip
    print(f"memory per open console:       {result['per_console_kib']:.1f} KiB "
          f"(replay limit {result['replay_limit_kib']:.0f} KiB, fills with output)")  # fmt: skip
    print(f"output relayed while typing:   {result['output_kib_s']:.1f} KiB/s")
    print(f"broker CPU while flowing:      {result['broker_cpu_pct']:.0f} % of one core")


if __name__ == "__main__":
    main()
