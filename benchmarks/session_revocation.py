"""Ending a user's sessions to their websockets closing, through the Redis channel layer.

`apps.identity.sessions.end_all` (what deactivation, a lowered role or a factor change call)
ends the sessions, revokes the tokens and, on commit, sends `session.revoked` to the group
`user.<id>`; every consumer of that user closes. Measured: from the call to the last of the
user's sockets closed, with that user holding 1, 10 and 50 live-page sockets while 200 other
sockets (other users) stay open. Consumers run in this process (channels' test communicator,
the production consumers and ASGI stack); the layer is Redis database 15 with a prefix of its
own. Target (issue 13): within 5 s.

    .venv/bin/python benchmarks/session_revocation.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TMP = Path(tempfile.mkdtemp(prefix="heatsite-session-revocation-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heatsite.settings")
os.environ["DATABASE_URL"] = f"sqlite:///{TMP / 'bench.sqlite3'}"
os.environ["CACHE_URL"] = "locmem://"
REDIS = os.environ.get("SESSION_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
PREFIX = f"heatsite-bench-revocation-{uuid.uuid4().hex[:8]}"

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()
settings.CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS], "prefix": PREFIX, "capacity": 5000},
    }
}

import redis  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from django.test import Client  # noqa: E402

from apps.accounts.models import Role, User  # noqa: E402
from apps.identity import factors, sessions  # noqa: E402
from heatsite.asgi import application  # noqa: E402

OTHERS = 200


def cookie_for(user: User) -> str:
    client = Client()
    client.force_login(user)
    request = HttpRequest()
    request.session, request.user = client.session, user
    factors.record_factor(request, user, factors.TOTP)  # as a login through the factor
    request.session.save()
    return client.cookies["sessionid"].value


async def connect(cookie: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application,
        "/ws/fleet/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"host", b"testserver"),
            (b"cookie", f"sessionid={cookie}".encode()),
        ],
    )
    connected, code = await communicator.connect(timeout=60)
    assert connected, code
    return communicator


async def closed(communicator: WebsocketCommunicator) -> None:
    while (await communicator.receive_output(timeout=60))["type"] != "websocket.close":
        pass


async def one_round(sockets: int, others: list[WebsocketCommunicator]) -> float:
    user = await sync_to_async(User.objects.create)(
        username=f"eng-{uuid.uuid4().hex[:8]}", role=Role.ENGINEER
    )
    cookies = [await sync_to_async(cookie_for)(user) for _ in range(sockets)]
    mine = [await connect(cookie) for cookie in cookies]
    start = time.perf_counter()
    await sync_to_async(sessions.end_all)(user, reason="benchmark")
    await asyncio.gather(*(closed(c) for c in mine))
    elapsed = time.perf_counter() - start
    assert all(not o.output_queue.qsize() for o in others)  # nobody else was told
    return elapsed


async def main(rounds: int) -> None:
    others_users = [
        await sync_to_async(User.objects.create)(username=f"other-{n}", role=Role.ENGINEER)
        for n in range(20)
    ]
    others = [
        await connect(await sync_to_async(cookie_for)(others_users[n % 20])) for n in range(OTHERS)
    ]
    print("| user's sockets | other sockets open | rounds | median s | worst s |")
    print("|--:|--:|--:|--:|--:|")
    for sockets in (1, 10, 50):
        samples = [await one_round(sockets, others) for _ in range(rounds)]
        print(
            f"| {sockets} | {OTHERS} | {rounds} | {statistics.median(samples):.3f} "
            f"| {max(samples):.3f} |"
        )
    for communicator in others:
        await communicator.disconnect()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    try:
        asyncio.run(main(args.rounds))
    finally:
        connection = redis.Redis.from_url(REDIS)
        for key in connection.scan_iter(f"{PREFIX}*"):
            connection.delete(key)
