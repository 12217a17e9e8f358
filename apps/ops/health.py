"""Readiness checks: the database, the shared cache and the broker, each with its reason."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from kombu import Connection


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _cache() -> None:
    key = f"heatsite:readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("the cache did not return what was just stored")
    cache.delete(key)


def _broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # tasks run in-process: no broker to reach
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS = {"database": _database, "cache": _cache, "broker": _broker}


def readiness() -> dict[str, str]:
    """``{"database": "ok", "cache": "ok", "broker": "unreachable (OperationalError)"}``.

    A failure names its exception's type only: messages can carry URLs with credentials."""
    out = {}
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:
            out[name] = f"unavailable ({type(exc).__name__})"
        else:
            out[name] = "ok"
    return out
