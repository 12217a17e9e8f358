"""poll_meters against lab meters over Modbus TCP, on a stopped simulated clock."""

import math
from datetime import timedelta

import pytest

from apps.heat import polling, selectors
from apps.heat.models import DailyRollup, MeterState, QualityFlag, Reading, RejectedReading
from apps.lab.meters.simulation import OMEGA, PHASE

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab_meter(farm, make_meter):
    """A lab meter and its database record, pointing at each other."""

    def make(serial="HM-1", model="generic", **sim):
        lab = farm.add(serial, model=model, **sim)
        db = make_meter(serial, model=model, port=lab.port, unit_id=lab.unit_id)
        return lab, db

    return make


def poll(clock, *meters, timeout=30.0, gap_s=None):
    # The timeout bounds a broken lab only: the farm answers on loopback in milliseconds.
    return polling.poll_meters(
        [m.id for m in meters], timeout=timeout, clock=clock.now, gap_s=gap_s
    )


def test_a_simulated_day_polled_every_10_minutes_matches_the_analytic_integral(
    lab_meter, clock, settings
):
    settings.HEAT_MAX_GAP_S = 1800
    lab, meter = lab_meter(load_kw=120, daily_swing=0.2)
    clock.advance(-600)  # one reading before local midnight, as a real poller would have
    for _ in range(24 * 6 + 2):
        (result,) = poll(clock, meter)
        assert result.ok, result.error
        clock.advance(600)
    day_start = lab.sim.clock.now() - timedelta(seconds=600 * (24 * 6 + 1))
    period = selectors.site_energy(meter.site_id, day_start, day_start + timedelta(days=1))
    (part,) = period.meters
    t0, t1 = part.start_reading.ts.timestamp(), part.end_reading.ts.timestamp()
    analytic = 0.9 * 120 * ((t1 - t0) - 0.2 / OMEGA * (
        math.cos(OMEGA * t1 + PHASE) - math.cos(OMEGA * t0 + PHASE))) / 3600  # fmt: skip
    assert period.energy_kwh == pytest.approx(analytic, rel=1e-3)
    # The power integral is an independent cross-check of the register.
    assert period.energy_power_kwh == pytest.approx(0.9 * 120 * 24, rel=1e-3)
    assert period.coverage == pytest.approx(1.0)
    daily = DailyRollup.objects.get(meter=meter, bucket_start=day_start)
    assert daily.energy_kwh == pytest.approx(period.energy_kwh, rel=1e-9)
    assert daily.covered_s == 86_400


def test_meters_that_disappear_mid_poll_go_offline_and_come_back(lab_meter, farm, clock):
    _, healthy = lab_meter("HM-OK")
    _, hanging = lab_meter("HM-HANG")
    _, gone = lab_meter("HM-GONE")
    poll(clock, healthy, hanging, gone)
    farm.set_offline("HM-HANG", "silent")
    farm.set_offline("HM-GONE", "refuse")
    clock.advance(10)
    # 3 s: the silent meter must use it up; the healthy one answers in milliseconds
    results = {r.serial: r for r in poll(clock, healthy, hanging, gone, timeout=3.0)}
    assert results["HM-OK"].ok
    assert results["HM-HANG"].went_offline and results["HM-HANG"].transient
    assert results["HM-GONE"].went_offline and "unreachable" in results["HM-GONE"].error
    state = MeterState.objects.get(meter=gone)
    assert state.status == "offline" and state.offline_since == clock.now()
    assert Reading.objects.filter(meter=gone).count() == 1

    farm.set_offline("HM-HANG", None)
    farm.set_offline("HM-GONE", None)
    clock.advance(10)
    results = {r.serial: r for r in poll(clock, healthy, hanging, gone)}
    assert all(r.ok and not r.went_offline for r in results.values())
    assert results["HM-GONE"].came_back and not results["HM-OK"].came_back
    assert MeterState.objects.get(meter=gone).offline_since is None


def test_nonsense_from_a_lab_meter_is_rejected_with_its_reason(lab_meter, clock):
    lab, meter = lab_meter()
    poll(clock, meter)
    lab.sim.set_nonsense("hot")
    clock.advance(10)
    (result,) = poll(clock, meter)
    assert not result.ok and result.rejected_reason == "temperature_out_of_range"
    assert RejectedReading.objects.get().values["supply_c"] == 400.0
    assert MeterState.objects.get(meter=meter).status == "rejecting"


def test_a_frozen_lab_meter_is_caught(lab_meter, clock):
    lab, meter = lab_meter(load_kw=100)
    poll(clock, meter)
    lab.sim.freeze()
    reasons = []
    for _ in range(8):
        clock.advance(60)
        reasons.append(poll(clock, meter)[0].rejected_reason)
    assert "frozen" in reasons


def test_rollover_of_a_lab_meter_is_billed_correctly(lab_meter, clock, settings):
    settings.HEAT_MAX_GAP_S = 900
    lab, meter = lab_meter(model="compact-8digit", load_kw=100, daily_swing=0)
    lab.sim.set_register_to(1e8 - 50)
    start = clock.now()
    for _ in range(13):
        assert poll(clock, meter)[0].ok
        clock.advance(600)
    period = selectors.site_energy(meter.site_id, start, clock.now())
    assert period.energy_kwh == pytest.approx(90 * 2, abs=1.0)
    assert Reading.objects.filter(meter=meter, flags=QualityFlag.ROLLOVER).count() == 1
