"""Poll many BMCs at once: bounded concurrency, per-site limits, a circuit breaker per BMC.

`sweep()` is a plain function for the poller task: endpoints in, one `PollResult` per endpoint
out (same order). Cached sessions are reused across sweeps (they live in the IPMI adapter's
per-process cache). A BMC that is unreachable or times out is backed off exponentially, so a
dead BMC costs the sweep nothing until its back-off expires.
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from apps.hardware.drivers.base import BmcDriver, BmcEndpoint, BmcError, SensorReading, driver_for
from apps.ops import metrics

BACKOFF_CAUSES = ("unreachable", "timeout", "no_session_slot")


@dataclasses.dataclass(frozen=True)
class PollResult:
    """What one sweep learnt about one BMC."""

    endpoint: BmcEndpoint
    ok: bool
    power_state: str | None = None
    sensors: list[SensorReading] | None = None
    system_power_watts: float | None = None
    cause: str | None = None
    transient: bool | None = None
    message: str = ""
    skipped: bool = False
    backoff_until: datetime.datetime | None = None
    polled_at: datetime.datetime = dataclasses.field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC)
    )

    @property
    def reachable(self) -> bool | None:
        """True/False when known; None when the BMC was skipped or failed for another cause."""
        if self.ok:
            return True
        if self.cause in ("unreachable", "timeout"):
            return False
        return None


class CircuitBreaker:
    """Per-endpoint exponential back-off after unreachable/timeout failures (thread-safe)."""

    def __init__(self, base: float = 5.0, maximum: float = 600.0, clock=time.time):
        self.base = base
        self.maximum = maximum
        self.clock = clock
        self._state: dict[tuple, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def open_until(self, key: tuple) -> float | None:
        """The epoch time until which ``key`` is backed off, or None when it may be polled."""
        with self._lock:
            failures, until = self._state.get(key, (0, 0.0))
        return until if failures and until > self.clock() else None

    def failure(self, key: tuple) -> float:
        with self._lock:
            failures, _ = self._state.get(key, (0, 0.0))
            failures += 1
            delay = min(self.base * 2 ** (failures - 1), self.maximum)
            until = self.clock() + delay
            self._state[key] = (failures, until)
            return until

    def success(self, key: tuple) -> None:
        with self._lock:
            self._state.pop(key, None)

    def failures(self, key: tuple) -> int:
        with self._lock:
            return self._state.get(key, (0, 0.0))[0]


default_breaker = CircuitBreaker()
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    # reused between sweeps: thread start-up would otherwise dominate small sweeps
    with _pools_lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(size, thread_name_prefix=f"bmc-sweep-{size}")
        return pool


def sweep(
    endpoints: Sequence[BmcEndpoint],
    *,
    max_concurrency: int = 32,
    per_site_limit: int | None = None,
    timeout: float = 3.0,
    sensors: bool = False,
    breaker: CircuitBreaker | None = None,
    driver_factory: Callable[..., BmcDriver] = driver_for,
) -> list[PollResult]:
    """Read the power state (and with ``sensors=True`` the sensors) of every endpoint."""
    if max_concurrency < 1 or (per_site_limit is not None and per_site_limit < 1):
        raise ValueError("concurrency limits must be at least 1")
    breaker = breaker or default_breaker
    site_slots: dict[str, threading.Semaphore] = {}
    if per_site_limit is not None:
        for endpoint in endpoints:
            site_slots.setdefault(endpoint.site, threading.BoundedSemaphore(per_site_limit))

    def poll(endpoint: BmcEndpoint) -> PollResult:
        until = breaker.open_until(endpoint.key)
        if until is not None:
            stamp = datetime.datetime.fromtimestamp(until, datetime.UTC)
            return PollResult(
                endpoint,
                ok=False,
                skipped=True,
                cause="unreachable",
                transient=True,
                backoff_until=stamp,
                message=f"skipped: backing off until {stamp.isoformat(timespec='seconds')}",
            )
        slot = site_slots.get(endpoint.site)
        if slot is not None:
            slot.acquire()
        try:
            return _poll_one(endpoint, timeout, sensors, breaker, driver_factory)
        finally:
            if slot is not None:
                slot.release()

    if len(endpoints) <= 1 or max_concurrency == 1:
        return [poll(e) for e in endpoints]
    workers = min(max_concurrency, len(endpoints))
    return list(_pool(workers).map(poll, endpoints))


def _poll_one(endpoint, timeout, sensors, breaker, driver_factory) -> PollResult:
    try:
        driver = driver_factory(endpoint, timeout=timeout)
        state = driver.power_state().state
        readings = watts = None
        if sensors:
            readings = driver.sensors()
            watts = driver.system_power_watts()
    except BmcError as error:
        metrics.BMC_ERRORS.labels(error.cause or "unknown").inc()
        backoff = None
        if error.cause in BACKOFF_CAUSES:
            backoff = datetime.datetime.fromtimestamp(breaker.failure(endpoint.key), datetime.UTC)
        return PollResult(
            endpoint,
            ok=False,
            cause=error.cause,
            transient=error.transient,
            message=error.message,
            backoff_until=backoff,
        )
    breaker.success(endpoint.key)
    return PollResult(
        endpoint, ok=True, power_state=state, sensors=readings, system_power_watts=watts
    )
