"""The identity app's clock: one function tests can move (lockout windows, re-auth age, idle and
absolute session limits) without touching the machine's time."""

import time


def now() -> float:
    """Seconds since the epoch (UTC)."""
    return time.time()
