"""Production settings for tests: heatsite/settings.py read in a child process with DEBUG off
(how production is selected), so the tests check what production really gets rather than a
copy of it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOST = "console.heatsite.example"

# What an operator sets (.env.example): secrets, the host name, DEBUG off. Nothing else.
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "test-production-secret-key-" + "k7Q9xW2mZ4pR8vT1nB6yL3sD5fH0jG" * 2,
    "CREDENTIAL_KEYS": base64.urlsafe_b64encode(b"p" * 32).decode(),
    "ALLOWED_HOSTS": f"{HOST},testserver",
}
# Variables of the development/test environment that production does not have.
NOT_IN_PRODUCTION = (
    "CACHE_URL",
    "HTTPS",
    "TRUST_X_FORWARDED_PROTO",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "CHANNELS_IN_MEMORY",
)


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_IN_PRODUCTION}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env | PRODUCTION_ENV | extra


def production_settings(names: list[str]) -> dict:
    """The values `names` take in heatsite/settings.py with the production environment."""
    code = (
        "import json, heatsite.settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {names!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


def manage(*args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=production_env(**extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
