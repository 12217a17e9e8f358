"""Keystroke to echo in the browser, on loopback: the whole path of a typed character.

Chromium (headless) -> websocket -> consumer (uvicorn, in a thread) -> Redis channel layer ->
console broker (its own thread and loop) -> pyghmi SOL -> lab BMC shell echo -> back the same
way -> xterm.js has parsed the echo. Measured in the page: `performance.now()` when the key is
handed to the terminal (`term.input`, what a key press becomes) and when xterm.js reports the
echo written. One key at a time, after a warm-up; Redis database 15 with a prefix of its own.

    .venv/bin/python benchmarks/console_latency.py [--keys 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="heatsite-console-latency-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
os.environ["DATABASE_URL"] = f"sqlite:///{TMP / 'bench.sqlite3'}"
REDIS = os.environ.get("CONSOLE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")

import django  # noqa: E402

django.setup()

import uvicorn  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from apps.accounts.models import Role, User  # noqa: E402
from apps.console.broker import ConsoleBroker  # noqa: E402
from apps.lab.bmc import LabBmcServer  # noqa: E402
from apps.sites.models import Node, Organisation, Site  # noqa: E402

PASSWORD = "bench-password-123"  # noqa: S105 - a throwaway user in a throwaway database
MEASURE = """async (keys) => {
  const term = window.HeatsiteConsole.terminal;
  const samples = [];
  for (let i = 0; i < keys; i++) {
    const echoed = new Promise((resolve) => {
      const sub = term.onWriteParsed(() => { sub.dispose(); resolve(performance.now()); });
    });
    const start = performance.now();
    term.input(String.fromCharCode(97 + (i % 26)), true);
    samples.push((await echoed) - start);
    if (i % 60 === 59) {  // keep the shell line short
      const prompt = new Promise((r) => setTimeout(r, 200));
      term.input("\\r", true);
      await prompt;
    }
  }
  return samples;
}"""


def seed(port: int) -> int:
    call_command("migrate", verbosity=0)
    org = Organisation.objects.create(name="Bench partner")
    site = Site.objects.create(code="bench-0001", name="Bench", partner=org, timezone="UTC")
    User.objects.create(
        username="bench-engineer", role=Role.ENGINEER, password=make_password(PASSWORD)
    )
    node = Node(site=site, name="lab-node-001", bmc_host="127.0.0.1", bmc_port=port,
                bmc_username="admin")  # fmt: skip
    node.set_bmc_password("password")
    node.save()
    return node.pk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200)
    args = parser.parse_args()
    # Django warns that static files are streamed from sync iterators under ASGI: expected here
    warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous")
    warnings.filterwarnings("ignore", message="No directory at")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS], "prefix": "heatsite-console-bench"},
        }
    }
    settings.CONSOLE_LOG_DIR = TMP / "console"
    settings.WHITENOISE_USE_FINDERS = True
    settings.DEBUG = False

    from heatsite.asgi import application

    with LabBmcServer(count=1) as lab:
        node_id = seed(lab.port(0))
        broker = ConsoleBroker(workers=4)
        broker_thread = threading.Thread(target=lambda: asyncio.run(broker.run()), daemon=True)
        broker_thread.start()
        broker.ready.wait(30)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = uvicorn.Server(
            uvicorn.Config(application, ws="wsproto", lifespan="off", log_level="warning")
        )
        web = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        web.start()
        while not server.started:
            time.sleep(0.02)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
                )
                page = browser.new_page()
                page.goto(f"{base}/login/")
                page.get_by_label("Username").fill("bench-engineer")
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Log in").click()
                page.goto(f"{base}/nodes/{node_id}/console/")
                page.wait_for_selector("[data-state=connected]", timeout=30000)
                page.wait_for_function("window.HeatsiteConsole && window.HeatsiteConsole.terminal")
                page.evaluate(MEASURE, 20)  # warm-up: connections, JIT
                samples = sorted(page.evaluate(MEASURE, args.keys))
                browser.close()
        finally:
            server.should_exit = True
            broker.stop()
            web.join(timeout=10)
            broker_thread.join(timeout=30)
    p95 = samples[int(0.95 * (len(samples) - 1))]
    print(f"keystrokes measured:      {len(samples)}")
    print(f"keystroke -> echo median: {statistics.median(samples):.1f} ms")
    print(f"p95 / max:                {p95:.1f} / {samples[-1]:.1f} ms")
    print(f"target:                   < 100 ms median -> "
          f"{'met' if statistics.median(samples) < 100 else 'NOT met'}")  # fmt: skip


if __name__ == "__main__":
    main()
