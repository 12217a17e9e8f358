"""System checks for what the identity rules rely on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

PER_PROCESS_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)


@register(Tags.security, Tags.caches, deploy=True)
def shared_cache_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """With DEBUG off the default cache must be shared by every process: the sign-in lockout,
    allauth's rate limits and its single-use TOTP codes live there, and a per-process cache
    would give each web process its own count (and a dummy cache none at all). A deploy check
    (`manage.py check --deploy`, run before every production start and in CI): the suite's own
    commands run with DEBUG off on a per-process cache and must not trip it."""
    if settings.DEBUG:
        return []
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in PER_PROCESS_CACHES:
        return [
            Error(
                f"The default cache is {backend.rsplit('.', 1)[-1]}, private to each process: "
                "sign-in lockout counts and single-use codes would not be shared.",
                hint="Set CACHE_URL (or REDIS_URL) to a Redis server shared by every process.",
                id="identity.E001",
            )
        ]
    return []
