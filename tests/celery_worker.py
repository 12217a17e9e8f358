"""A real Celery worker (prefork) in a subprocess on the test database, for the worker tests.

The worker consumes a queue of its own (other workers on the same Redis never see its tasks) and
uses the test database this process uses: PostgreSQL's ``test_<name>`` as it is, SQLite through
a file-based test database (an in-memory one is invisible to another process).
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
WAIT = 60.0  # generous: the CI machine has two cores shared with the lab and the database

# A prefork worker with one child on the queue ``argv[1]``; what it sends (next steps, power
# actions) stays on that queue too.
WORKER_OWN_QUEUE = r"""
import sys
import django
django.setup()
from heatsite.celery import app
app.conf.task_default_queue = sys.argv[1]  # what this worker sends stays on its queue
app.worker_main(["worker", "--pool=prefork", "--concurrency=1", "-Q", sys.argv[1],
                 "-n", sys.argv[1] + "@%h", "--without-heartbeat", "--without-mingle",
                 "--without-gossip", "--loglevel=INFO"])
"""


def database_url() -> str:
    """The URL of the test database this process uses, for the worker's settings."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    return f"postgresql://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def celery_worker(
    script: str, *args: str, database: str, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Runs ``python -c script *args`` as a worker on ``database`` (a `database_url`), waits
    until it says "ready." and yields its main process; stops it and its pool at exit."""
    handle, log_name = tempfile.mkstemp(prefix="heatsite-worker-", suffix=".log")
    log = Path(log_name)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "heatsite.settings",
            "DATABASE_URL": database,
            "DB_CONN_MAX_AGE": "0",
            "CHANNELS_IN_MEMORY": "1",
            "BMC_TIMEOUT": "10",
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        },
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its pool children are ours to stop, and only they
    )
    try:
        wait_for(
            lambda: "ready." in log.read_text(errors="replace") or proc.poll() is not None,
            "the worker to start",
        )
        if proc.poll() is not None:
            raise RuntimeError("worker did not start:\n" + log.read_text()[-3000:])
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:  # the test killed the whole worker itself
            proc.wait()
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(handle)
        log.unlink(missing_ok=True)


def pool_children(parent: int) -> list[int]:
    """The pids whose parent is ``parent`` (the worker's pool processes)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(stat.parent.name))
    return children


def wait_for(predicate, what: str):
    """``predicate()``'s first true value, polled; fails after `WAIT` (a bound, not a pace)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
