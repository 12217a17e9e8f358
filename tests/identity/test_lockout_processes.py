"""The lockout holds across processes: failures counted by one web process lock the username
for another, through the shared Redis cache (as the web, API and admin processes share it)."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from apps.identity import lockout

REDIS_TEST_URL = "redis://127.0.0.1:6379/14"
ROOT = Path(__file__).resolve().parents[2]

# The other process: Heatsite's settings on the same Redis, a key prefix of this test's own;
# it answers one line per command read on stdin.
OTHER_PROCESS = """
import sys
import django
from django.conf import settings

django.setup()
settings.CACHES["default"]["KEY_PREFIX"] = sys.argv[1]
from apps.identity import lockout

print("ready", flush=True)
for line in sys.stdin:
    command = line.strip()
    if command == "fail":
        lockout.failed("engineer", "10.1.1.1", channel="api")
        print("counted", flush=True)
    elif command == "refusal":
        print(repr(lockout.refusal("engineer", "10.1.1.2")), flush=True)
    else:
        break
"""


@pytest.fixture
def shared_cache(settings):
    prefix = f"heatsite-test-lockout-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    connection = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=5)
    connection.ping()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_TEST_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield prefix
    for key in connection.scan_iter(f"{prefix}*"):
        connection.delete(key)


@pytest.fixture
def other_process(shared_cache):
    env = {**os.environ, "CACHE_URL": REDIS_TEST_URL, "DJANGO_SETTINGS_MODULE": "heatsite.settings"}
    process = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, shared_cache],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ask(command):
        process.stdin.write(command + "\n")
        process.stdin.flush()
        return process.stdout.readline().strip()

    assert process.stdout.readline().strip() == "ready"
    yield ask
    process.stdin.close()
    process.wait(timeout=60)
    process.stdout.close()


@pytest.mark.django_db
def test_failures_in_two_processes_add_up_to_one_lock(other_process, engineer):
    for _ in range(3):
        assert other_process("fail") == "counted"
    assert lockout.refusal("engineer", "10.1.1.3") is None
    lockout.failed("engineer", "10.1.1.3", channel="web")
    lockout.failed("engineer", "10.1.1.3", channel="web")  # the fifth: locked here...
    assert lockout.refusal("engineer", "10.1.1.3") is not None
    assert "locked" in other_process("refusal")  # ...and in the other process
