"""Console settings, each read from Django settings with a default (no entry is required)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def idle_timeout() -> float:
    """Seconds a console with no viewer keeps its BMC session before closing it."""
    return float(getattr(settings, "CONSOLE_IDLE_TIMEOUT", 600))


def log_dir() -> Path:
    """Where the per-node console logs are written (one folder per node, one file per day)."""
    return Path(getattr(settings, "CONSOLE_LOG_DIR", settings.BASE_DIR / "var" / "console"))


def replay_bytes() -> int:
    """Bytes of recent output kept per node and shown at once to a new viewer."""
    return int(getattr(settings, "CONSOLE_REPLAY_BYTES", 32768))


def probe_interval() -> float:
    """Seconds between liveness and power checks of each open BMC session."""
    return float(getattr(settings, "CONSOLE_PROBE_INTERVAL", 5))


def reconnect_delay() -> float:
    """First wait before reconnecting a lost session (doubles up to `reconnect_max()`)."""
    return float(getattr(settings, "CONSOLE_RECONNECT_DELAY", 1))


def reconnect_max() -> float:
    return float(getattr(settings, "CONSOLE_RECONNECT_MAX", 30))


def recheck_interval() -> float:
    """Seconds between a viewer's access re-checks (revoked engineers are disconnected)."""
    return float(getattr(settings, "CONSOLE_RECHECK_INTERVAL", 10))


def input_recheck_age() -> float:
    """Keystrokes re-check access first when the last check is older than this (seconds)."""
    return float(getattr(settings, "CONSOLE_INPUT_RECHECK_AGE", 2))


def bmc_timeout() -> float:
    """Seconds one BMC exchange (login, probe) may take before the session counts as lost."""
    return float(getattr(settings, "CONSOLE_BMC_TIMEOUT", 3))


def node_log_dir(node_id: int) -> Path:
    return log_dir() / f"node-{int(node_id)}"
