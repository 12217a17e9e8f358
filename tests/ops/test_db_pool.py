"""The web tier's PostgreSQL connections are pooled: many concurrent requests to one ASGI
process hold at most ``DB_POOL_MAX`` connections (without the pool each request thread kept one
of its own, and 50 engineers ran PostgreSQL out of connections)."""

import asyncio
import os
import socket
import subprocess
import sys

import httpx
import pytest
from django.db import connection

from tests.celery_worker import ROOT, database_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

POOL = 3


def _connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def server():
    if connection.vendor != "postgresql":
        pytest.skip("the connection pool is PostgreSQL's (psycopg_pool); SQLite has none")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DB_CONN_MAX_AGE": "60",  # production's default: the pool must take its place
        "DB_POOL_MAX": str(POOL),
        "DB_POOL_TIMEOUT": "60",  # a request waits for a free connection, however busy
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "heatsite.asgi:application", "--port", str(port),
         "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        try:
            return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, "the ASGI server to start")
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.stderr.close()


def test_forty_concurrent_requests_share_the_pools_connections(server):
    async def many() -> list[int]:
        async with httpx.AsyncClient(base_url=server, timeout=120) as client:
            answers = await asyncio.gather(*(client.get("/readyz") for _ in range(40)))
        return [answer.status_code for answer in answers]

    peak = 0
    for _ in range(3):  # three bursts: threads come and go, connections must not pile up
        assert asyncio.run(many()) == [200] * 40  # /readyz queries the database
        peak = max(peak, _connections())
    assert 1 <= peak <= POOL
