"""`sweep()` over lab BMCs: concurrency, per-site limits, circuit breaking."""

import threading

import pytest

from apps.hardware.drivers import driver_for
from apps.hardware.sweep import CircuitBreaker, sweep


def test_sweep_reads_every_power_state_in_order(make_lab):
    lab = make_lab(count=8)
    lab.bmc(3).set_power("off")
    results = sweep(lab.endpoints(), max_concurrency=4, breaker=CircuitBreaker())
    assert [r.endpoint for r in results] == lab.endpoints()
    assert [r.power_state for r in results] == ["on"] * 3 + ["off"] + ["on"] * 4
    assert all(r.ok and r.reachable for r in results)


def test_unreachable_bmc_is_backed_off_and_skipped(make_lab):
    lab = make_lab(count=4)
    lab.bmc(1).faults.unreachable = True
    breaker = CircuitBreaker(base=60)
    # 3 s: what the dead BMC costs; the live ones get two sends (one in 1 s could be lost)
    first = sweep(lab.endpoints(), max_concurrency=4, timeout=3.0, breaker=breaker)
    assert [r.ok for r in first] == [True, False, True, True]
    assert (first[1].cause, first[1].reachable, first[1].transient) == ("unreachable", False, True)
    assert first[1].backoff_until is not None
    requests_before = sum(lab.bmc(1).requests.values())
    second = sweep(lab.endpoints(), max_concurrency=4, timeout=3.0, breaker=breaker)
    assert second[1].skipped
    assert second[1].message.startswith("skipped: backing off until ")
    assert [r.power_state for r in second] == ["on", None, "on", "on"]
    assert sum(lab.bmc(1).requests.values()) == requests_before


def test_circuit_breaker_backs_off_exponentially_and_resets():
    now = [1000.0]
    breaker = CircuitBreaker(base=5, maximum=30, clock=lambda: now[0])
    key = ("h", 623, "u")
    assert [breaker.failure(key) - now[0] for _ in range(5)] == [5, 10, 20, 30, 30]
    assert breaker.open_until(key) == 1030
    now[0] = 1031
    assert breaker.open_until(key) is None  # half-open: one more try is allowed
    breaker.success(key)
    assert breaker.failures(key) == 0


def test_bad_credentials_are_reported_but_not_backed_off(make_lab):
    lab = make_lab(count=2)
    lab.bmc(0).faults.wrong_credentials = True
    breaker = CircuitBreaker()
    results = sweep(lab.endpoints(), max_concurrency=2, breaker=breaker)
    assert (results[0].cause, results[0].transient, results[0].backoff_until) == (
        "bad_credentials",
        False,
        None,
    )
    assert results[1].ok


def test_sweep_with_sensors_reports_power_draw(make_lab):
    lab = make_lab(count=2)
    lab.bmc(1).set_power("off")
    results = sweep(lab.endpoints(), sensors=True, breaker=CircuitBreaker())
    assert [r.system_power_watts for r in results] == [300.0, 0.0]
    assert {s.name for s in results[0].sensors} >= {"Water Inlet", "Water Outlet"}


def test_per_site_limit_bounds_concurrency_per_site(make_lab):
    lab = make_lab(count=8)
    active: dict[str, int] = {}
    peak: dict[str, int] = {}
    lock = threading.Lock()

    def counting_driver(endpoint, **options):
        driver = driver_for(endpoint, **options)
        original = driver.power_state

        def power_state():
            with lock:
                active[endpoint.site] = active.get(endpoint.site, 0) + 1
                peak[endpoint.site] = max(peak.get(endpoint.site, 0), active[endpoint.site])
            try:
                return original()
            finally:
                with lock:
                    active[endpoint.site] -= 1

        driver.power_state = power_state
        return driver

    for i in range(8):
        lab.bmc(i).faults.slow_ms = 30
    results = sweep(
        lab.endpoints(),
        max_concurrency=8,
        per_site_limit=1,
        breaker=CircuitBreaker(),
        driver_factory=counting_driver,
    )
    assert all(r.ok for r in results)
    assert set(peak.values()) == {1}


def test_concurrent_sweeps_from_several_threads_agree(make_lab):
    lab = make_lab(count=12)
    for i in range(0, 12, 3):
        lab.bmc(i).set_power("off")
    expected = ["off" if i % 3 == 0 else "on" for i in range(12)]
    outcomes = []

    def run():
        for _ in range(5):
            # generous: 24 polls in flight on a busy machine must not time out (3 s default)
            polled = sweep(lab.endpoints(), max_concurrency=6, timeout=30)
            outcomes.append([r.power_state for r in polled])

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(outcomes) == 20
    assert [o for o in outcomes if o != expected] == []
    # sessions are reused: one per BMC, not one per poll
    assert all(len(lab.bmc(i).sessions) == 1 for i in range(12))


def test_invalid_limits_are_refused():
    with pytest.raises(ValueError):
        sweep([], max_concurrency=0)
