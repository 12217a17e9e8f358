"""Root pytest configuration: loaded before Django settings are read."""

import os

# Unit tests use the in-memory channel layer; end-to-end servers get Redis explicitly.
os.environ.setdefault("CHANNELS_IN_MEMORY", "1")
# Connections opened in worker threads (websocket consumers, live servers) must close when
# their work ends, or PostgreSQL refuses to drop the test database at teardown.
os.environ.setdefault("DB_CONN_MAX_AGE", "0")
# A per-process cache, emptied before each test (tests/conftest.py): lockout counts and rate
# limits never leak from one test to the next. Cross-process tests configure Redis themselves.
os.environ.setdefault("CACHE_URL", "locmem://")


def pytest_configure(config):
    # pytest-django has already read the settings by now: apply both to the settings object.
    from django.conf import settings

    settings.DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["DB_CONN_MAX_AGE"])
    if os.environ["CHANNELS_IN_MEMORY"] == "1":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    if os.environ["CACHE_URL"].startswith("locmem://"):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
