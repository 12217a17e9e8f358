"""Which Celery worker processes are alive: each worker's main process beats in Redis.

A task that must not be lost with its worker (a power action) records ``worker_id()``; a
periodic check (``apps.hardware.recovery``) hands back to the queue the work of a worker whose
beat stopped. This bounds the time from a worker's SIGKILL to its action being re-run or
failed by ``WORKER_HEARTBEAT_TTL`` + ``POWER_RECOVER_INTERVAL`` on any broker (on Redis the
message itself would wait for the visibility timeout). The id includes the main process's pid,
so a worker restarted under the same name does not vouch for its predecessor's work.
"""

from __future__ import annotations

import logging
import os
import threading

import redis
from django.conf import settings

log = logging.getLogger(__name__)
PREFIX = "heatsite:worker-alive:"
MAIN_PID_ENV = "HEATSITE_WORKER_MAIN_PID"


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def worker_id(hostname: str | None) -> str:
    """This process's worker: its node name and the pid of its main process ("" when the task
    runs outside a worker, e.g. eagerly: nothing to recover then)."""
    if not hostname:
        return ""
    return f"{hostname}:{os.environ.get(MAIN_PID_ENV) or os.getpid()}"


def mark_main_process() -> None:
    """Called in the worker's main process before its pool forks (children inherit it)."""
    os.environ[MAIN_PID_ENV] = str(os.getpid())


def beat_once(wid: str) -> None:
    _redis().set(PREFIX + wid, "1", ex=settings.WORKER_HEARTBEAT_TTL)


def start_heartbeat(hostname: str) -> threading.Thread:
    """Beats every WORKER_HEARTBEAT_SECONDS until the process ends (a daemon thread)."""
    wid = worker_id(hostname)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                beat_once(wid)
            except redis.RedisError as error:
                log.warning("worker heartbeat failed: %s", error)
            stop.wait(settings.WORKER_HEARTBEAT_SECONDS)

    thread = threading.Thread(target=run, name="heatsite-heartbeat", daemon=True)
    thread.start()
    return thread


def alive(worker_ids: list[str]) -> set[str]:
    """The ids among ``worker_ids`` whose worker beat within the TTL."""
    if not worker_ids:
        return set()
    values = _redis().mget([PREFIX + wid for wid in worker_ids])
    return {wid for wid, value in zip(worker_ids, values, strict=True) if value is not None}
