"""The system check that refuses a per-process cache in production."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.identity.checks import shared_cache_check

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DUMMY = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/0",
    }
}


@pytest.mark.parametrize("caches", [LOCMEM, DUMMY])
def test_a_per_process_cache_is_refused_when_debug_is_off(settings, caches):
    settings.DEBUG = False
    settings.CACHES = caches
    assert [e.id for e in shared_cache_check()] == ["identity.E001"]


def test_redis_passes_and_development_may_use_anything(settings):
    settings.DEBUG = False
    settings.CACHES = REDIS
    assert shared_cache_check() == []
    settings.DEBUG = True
    settings.CACHES = LOCMEM
    assert shared_cache_check() == []


def test_manage_py_check_deploy_stops_on_it(settings):
    settings.DEBUG = False
    settings.CACHES = LOCMEM
    with pytest.raises(SystemCheckError, match=r"identity\.E001"):
        call_command("check", deploy=True, tags=["caches"])
