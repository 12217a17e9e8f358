"""The web tier under load: concurrent engineers on pages, htmx fragments, the API and live
websockets, served by one Daphne process (as `make demo`) and by uvicorn with several ASGI
worker processes (as production, deploy/systemd/heatsite-web.service).

    .venv/bin/python benchmarks/web_load.py [--users 50] [--seconds 30]
        [--servers daphne,uvicorn-1,uvicorn-4] [--reseed]

PostgreSQL database ``heatsite_bench_web`` on ``postgres://postgres@127.0.0.1:5432`` (override
with WEB_BENCH_SERVER_URL), seeded once with the demo fleet (12 sites x 8 nodes, 30 days of heat
history) and ``--users`` engineers with TOTP. Redis database 9 carries the channel layer and the
cache. Each server runs in turn, with DEBUG off and HTTPS off (TLS ends at the reverse proxy).

Every simulated engineer logs in through the real door (password, then the TOTP code), opens a
websocket on a site page, then loops for ``--seconds`` over: fleet page, site page, node page,
the site's node-grid fragment (htmx), and ``GET /api/v1/sites/``. Meanwhile the benchmark sends
a live update to every site group every second and times its arrival at each subscriber
(websocket fan-out). Prints a markdown table per server: requests/s, median and p95 per kind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
SERVER_URL = os.environ.get("WEB_BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432")
DB = "heatsite_bench_web"
PASSWORD = "load-benchmark-password"  # noqa: S105 - benchmark users only
BENCH_ENV = {
    "DEBUG": "0",
    "HTTPS": "0",
    "SECRET_KEY": "benchmark-only-secret-key-not-for-production",
    "CREDENTIAL_KEYS": "ZGV2LW9ubHktY3JlZGVudGlhbC1rZXktMzJieXRlcyE=",
    "REDIS_URL": "redis://127.0.0.1:6379/9",
    "ALLOWED_HOSTS": "127.0.0.1",
    "LOG_LEVEL": "WARNING",
    "DATABASE_URL": f"{SERVER_URL}/{DB}",
    "DB_POOL_MAX": "8",  # as deploy/systemd/heatsite-web.service
    "DJANGO_SETTINGS_MODULE": "heatsite.settings",
}
SERVERS = {
    "daphne": ["{venv}/daphne", "-b", "127.0.0.1", "-p", "{port}", "heatsite.asgi:application"],
    **{
        f"uvicorn-{n}": [
            "{venv}/uvicorn",
            "heatsite.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            str(n),
            "--ws",
            "wsproto",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        for n in (1, 2, 4)
    },
}


def run(*args: str, env: dict | None = None) -> str:
    done = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env={**os.environ, **BENCH_ENV, **(env or {})},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


SETUP = r"""
import sys, django
django.setup()
from apps.accounts.models import Role, User
from apps.identity import factors
from apps.sites.models import Node, Site
users = int(sys.argv[1]); password = sys.argv[2]
out = []
for i in range(users):
    user, made = User.objects.get_or_create(
        username=f"load-{i:03d}", defaults={"role": Role.ENGINEER})
    if made:
        user.set_password(password); user.save()
    secret = factors.totp_secret(user) or factors.enrol_totp(user)
    out.append([user.username, secret])
sites = list(Site.objects.order_by("id").values_list("id", flat=True))
nodes = list(Node.objects.order_by("id").values_list("id", flat=True))
print(json.dumps({"users": out, "sites": sites, "nodes": nodes}))
"""


def prepare(users: int, reseed: bool) -> dict:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone()
        if exists and reseed:
            conn.execute(f'DROP DATABASE "{DB}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB}"')
    run("migrate", "--no-input", "-v0")
    if reseed or not exists:
        print("seeding the demo fleet and 30 days of history ...", flush=True)
        run("seed_demo")
        run("seed_history", "--days", "30")
    run("collectstatic", "--no-input", "-v0")
    done = subprocess.run(
        [PY, "-c", "import json\n" + SETUP, str(users), PASSWORD], cwd=ROOT,
        env={**os.environ, **BENCH_ENV}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Each code is accepted once, and a wrong one counts towards the lockout: the periods already
# typed per user are kept across servers and runs (the server accepts one step of drift).
TYPED = Path("/tmp/heatsite-web-load-totp.json")


def totp(username: str, secret: str) -> str:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    typed = json.loads(TYPED.read_text()) if TYPED.exists() else {}
    now = int(time.time()) // 30
    counter = now if typed.get(username, 0) < now else now + 1
    if typed.get(username, 0) >= counter:
        raise RuntimeError(f"{username} logged in twice within 30 s: wait and run again")
    typed[username] = counter
    TYPED.write_text(json.dumps(typed))
    return format_hotp_value(hotp_value(secret, counter))


CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


async def log_in(client: httpx.AsyncClient, username: str, secret: str) -> None:
    page = await client.get("/login/")
    form = {"csrfmiddlewaretoken": CSRF.search(page.text)[1], "login": username,
            "username": username, "password": PASSWORD}  # fmt: skip
    step = await client.post("/login/", data=form, headers={"Referer": str(page.url)})
    step = await client.get(step.headers["location"]) if step.is_redirect else step
    if "csrfmiddlewaretoken" in step.text and 'name="code"' in step.text:
        form = {"csrfmiddlewaretoken": CSRF.search(step.text)[1], "code": totp(username, secret)}
        done = await client.post(str(step.url), data=form, headers={"Referer": str(step.url)})
        if done.status_code >= 400 or "/login" in done.headers.get("location", "/login"):
            raise RuntimeError(f"{username}: the TOTP step failed ({done.status_code})")
    check = await client.get("/sites/")
    if check.status_code != 200:
        raise RuntimeError(f"{username} could not log in: /sites/ answered {check.status_code}")


async def subscriber(base: str, cookies: httpx.Cookies, site_id: int, arrivals: list, stop,
                     opened: asyncio.Queue):  # fmt: skip
    url = base.replace("http", "ws", 1) + f"/ws/sites/{site_id}/"
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    headers = {"Cookie": cookie, "Origin": base}
    try:
        ws = await websockets.connect(url, additional_headers=headers, open_timeout=60)
    except Exception:
        await opened.put(False)
        raise
    await opened.put(True)
    async with ws:
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1)
            except TimeoutError:
                continue
            event = json.loads(raw)
            if event.get("type") == "bench.ping":
                arrivals.append(time.time() - event["sent"])


async def engineer(client, paths, seconds, samples):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        kind, path = random.choice(paths)
        headers = {"HX-Request": "true"} if kind == "htmx fragment" else {}
        start = time.perf_counter()
        response = await client.get(path, headers=headers)
        samples.append((kind, time.perf_counter() - start, response.status_code))


async def pinger(sites, stop):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    while not stop.is_set():
        for site_id in sites:
            event = {"type": "bench.ping", "sent": time.time()}
            await layer.group_send(f"site.{site_id}.heat", {"type": "push", "event": event})
        await asyncio.sleep(1)


async def load(base: str, fleet: dict, users: int, seconds: float) -> dict:
    sites, nodes = fleet["sites"], fleet["nodes"]
    # each engineer from an address of their own (127.0.0.0/8 is all loopback), as from their
    # own office: allauth limits logins to 30 a minute per address, as it should
    clients = [
        httpx.AsyncClient(
            base_url=base,
            timeout=60,
            transport=httpx.AsyncHTTPTransport(local_address=f"127.0.{1 + i // 250}.{2 + i % 250}"),
        )
        for i in range(users)
    ]
    started = time.perf_counter()
    await asyncio.gather(*(log_in(c, *fleet["users"][i]) for i, c in enumerate(clients)))
    login_s = time.perf_counter() - started
    paths = [
        ("fleet page", "/sites/"),
        *[("site page", f"/sites/{s}/") for s in sites[:6]],
        *[("node page", f"/nodes/{n}/") for n in nodes[:6]],
        *[("htmx fragment", f"/sites/{s}/nodes/") for s in sites[:6]],
        ("API sites list", "/api/v1/sites/"),
    ]
    samples: list = []
    arrivals: list = []
    stop = asyncio.Event()
    opened: asyncio.Queue = asyncio.Queue()
    subs = [
        asyncio.create_task(
            subscriber(base, c.cookies, sites[i % len(sites)], arrivals, stop, opened)
        )
        for i, c in enumerate(clients)
    ]
    # every engineer's site page has its live socket open before the page load starts
    connected = sum([await opened.get() for _ in subs])
    print(f"  {connected} of {len(subs)} websockets open", flush=True)
    ping = asyncio.create_task(pinger(sites, stop))
    t0 = time.perf_counter()
    await asyncio.gather(*(engineer(c, paths, seconds, samples) for c in clients))
    elapsed = time.perf_counter() - t0
    stop.set()
    ended = await asyncio.gather(ping, *subs, return_exceptions=True)
    failed = [repr(e)[:200] for e in ended if isinstance(e, BaseException)]
    if failed:  # a subscriber that could not connect, or was closed: said, not hidden
        print(f"  {len(failed)} websocket subscribers ended in error, e.g. {failed[0]}", flush=True)
    for c in clients:
        await c.aclose()
    return {"samples": samples, "elapsed": elapsed, "login_s": login_s, "arrivals": arrivals}


def pct(values, q):
    values = sorted(values)
    return values[min(int(q * len(values)), len(values) - 1)] if values else float("nan")


def report(name: str, result: dict, users: int) -> list[str]:
    samples = result["samples"]
    errors = sum(1 for _, _, status in samples if status >= 400)
    lines = [
        f"| **{name}**, all | {len(samples) / result['elapsed']:.0f} | "
        f"{statistics.median([s[1] for s in samples]) * 1000:.0f} | "
        f"{pct([s[1] for s in samples], 0.95) * 1000:.0f} | {errors} |"
    ]
    for kind in sorted({s[0] for s in samples}):
        times = [s[1] for s in samples if s[0] == kind]
        lines.append(
            f"| {name}, {kind} | {len(times) / result['elapsed']:.0f} | "
            f"{statistics.median(times) * 1000:.0f} | {pct(times, 0.95) * 1000:.0f} | |"
        )
    arrivals = result["arrivals"]
    rate = len(arrivals) / result["elapsed"]
    lines.append(
        f"| {name}, websocket fan-out ({users} subscribers) | {rate:.0f}"
        f" msgs/s | {statistics.median(arrivals) * 1000 if arrivals else float('nan'):.0f} | "
        f"{pct(arrivals, 0.95) * 1000:.0f} | |"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--servers", default="daphne,uvicorn-1,uvicorn-4")
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    for name in args.servers.split(","):
        if name not in SERVERS:
            sys.exit(f"unknown server {name!r}: choose among {', '.join(SERVERS)}")
    fleet = prepare(args.users, args.reseed)
    os.environ.update(BENCH_ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    rows = []
    for name in args.servers.split(","):
        port = free_port()
        argv = [a.format(venv=ROOT / ".venv" / "bin", port=port) for a in SERVERS[name]]
        log = open(f"/tmp/heatsite-web-load-{name}.log", "w")  # noqa: SIM115 - the server's
        server = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **BENCH_ENV},
                                  stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            print(f"{name}: {args.users} engineers for {args.seconds:.0f} s ...", flush=True)
            result = asyncio.run(load(base, fleet, args.users, args.seconds))
            print(f"  logged in through password + TOTP in {result['login_s']:.1f} s", flush=True)
            rows += report(name, result, args.users)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:  # websockets still draining: it is measured
                server.kill()
                server.wait()
    load_avg = os.getloadavg()[0]
    print(f"\n{args.users} concurrent engineers, {args.seconds:.0f} s per server, "
          f"{os.cpu_count()} cores, load average {load_avg:.1f} at the end\n")  # fmt: skip
    print("| server, request | requests/s | median ms | p95 ms | errors |")
    print("|---|--:|--:|--:|--:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
