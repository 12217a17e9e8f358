"""Live heat latency: from polling a meter to the new point on an open browser chart.

Production path end to end: a lab heat meter (Modbus TCP on loopback) is polled by
``polling.poll_meters`` (read, validate, store, roll up, commit), the reading is pushed as a
``heat.reading`` event through the Redis channel layer, Daphne (a separate process serving
``heatsite.asgi``) forwards it over the partner's websocket, and static/js/heat.js extends the
plotly chart. Each event carries a sequence number; the page records ``Date.now()`` when the
chart has been extended for it. Latency = that instant minus the instant the poll started (one
machine, one wall clock). Target: median under 1 s.

Run: ``.venv/bin/python benchmarks/heat_live_latency.py [--samples 20]`` (needs Redis on
REDIS_URL and /usr/bin/chromium). Uses a throw-away SQLite database in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("daphne did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="heat-live-latency-")
    env = {
        "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
        "CHANNELS_IN_MEMORY": "0",
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # This process drives Playwright's sync API and the ORM on the same thread.
        "DJANGO_ALLOW_ASYNC_UNSAFE": "true",
        "DJANGO_SETTINGS_MODULE": "heatsite.settings",
    }
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone
    from playwright.sync_api import sync_playwright

    from apps.accounts.models import Role, User
    from apps.heat import polling
    from apps.lab.meters import MeterFarm, SimClock
    from apps.sites.models import HeatMeter, Organisation, Site

    call_command("migrate", verbosity=0)
    org = Organisation.objects.create(name=f"Bench partner {uuid.uuid4().hex[:6]}")
    site = Site.objects.create(code="bench-1", name="Bench site", partner=org)
    user = User.objects.create(username="bench-partner", role=Role.PARTNER, organisation=org)
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value

    port = free_port()
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "heatsite.asgi:application"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    layer = get_channel_layer()
    send = async_to_sync(layer.group_send)
    pusher = ThreadPoolExecutor(1)  # async_to_sync cannot run beside Playwright's loop
    latencies: list[float] = []
    clock = SimClock(timezone.now(), speed=1.0)
    try:
        wait_for_port(port, daphne)
        with MeterFarm(clock) as farm, sync_playwright() as pw:
            lab = farm.add("HM-BENCH-1", load_kw=80, daily_swing=0.0)
            meter = HeatMeter.objects.create(
                site=site, serial="HM-BENCH-1", host=lab.host, port=lab.port, unit_id=lab.unit_id
            )
            polling.poll_meters([meter.id], clock=clock.now)
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context()
            base = f"http://127.0.0.1:{port}"
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": base}])
            page = context.new_page()
            page.goto(f"{base}/sites/{site.pk}/")
            page.wait_for_function("document.body.dataset.live === 'connected'", timeout=30_000)
            page.evaluate(
                """() => { window.__seen = {};
                   document.addEventListener('heatsite:event', (e) => {
                     if (e.detail.seq !== undefined) window.__seen[e.detail.seq] = Date.now();
                   }); }"""
            )
            for seq in range(args.samples):
                time.sleep(args.interval)
                started_ms = time.time() * 1000
                (result,) = polling.poll_meters([meter.id], clock=clock.now)
                if not result.ok:
                    raise RuntimeError(f"poll failed: {result.error}")
                r = result.reading
                event = {
                    "type": "heat.reading",
                    "site_id": site.pk,
                    "seq": seq,
                    "ts": r.read_at.isoformat(),
                    "power_kw": r.power_kw,
                    "supply_c": r.supply_c,
                    "return_c": r.return_c,
                    "flow_m3h": r.flow_m3h,
                }
                pusher.submit(send, f"site.{site.pk}.heat",
                              {"type": "push", "event": event}).result(timeout=10)  # fmt: skip
                page.wait_for_function(f"window.__seen[{seq}] !== undefined", timeout=30_000)
                shown_ms = page.evaluate(f"window.__seen[{seq}]")
                latencies.append(shown_ms - started_ms)
            points = page.evaluate("document.getElementById('heat-chart').data[0].x.length")
            browser.close()
    finally:
        pusher.shutdown()
        daphne.terminate()
        daphne.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    median = statistics.median(latencies)
    p90 = sorted(latencies)[int(0.9 * (len(latencies) - 1))]
    print(f"channel layer: {settings.CHANNEL_LAYERS['default']['BACKEND']}")
    print(f"samples: {len(latencies)}, chart points at the end: {points}")
    print(f"poll -> browser chart latency: median {median:.0f} ms, p90 {p90:.0f} ms, "
          f"min {min(latencies):.0f} ms, max {max(latencies):.0f} ms")  # fmt: skip
    print("target: median < 1000 ms:", "PASS" if median < 1000 else "FAIL")


if __name__ == "__main__":
    main()
