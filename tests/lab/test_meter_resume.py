"""Lab meters never reset: restarted, they resume the register the console last read or seeded.

Both tests poll over Modbus TCP on loopback with the real poller, on a stopped simulated clock.
"""

import io
from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command

from apps.heat import polling, selectors
from apps.heat.models import DailyRollup, MeterState, QualityFlag, Reading, RejectedReading
from apps.lab.meters import MeterFarm, SimClock
from apps.lab.meters.resume import resume_registers
from apps.sites.models import HeatMeter, Organisation, Site

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock():
    return SimClock(datetime(2026, 1, 14, 23, 0, tzinfo=UTC), speed=0)  # Paris midnight


@pytest.fixture
def meter(db):
    partner = Organisation.objects.create(name="Chaleur de Lyon", kind="partner")
    site = Site.objects.create(code="lyon-1", name="Lyon 1", partner=partner,
                               contract_min_supply_c=65, timezone="Europe/Paris",
                               nominal_capacity_kw=8)  # fmt: skip
    return HeatMeter.objects.create(site=site, serial="HM-1", host="127.0.0.1")


def start_lab(clock, meter, **sim):
    """A lab (one meter) the way run_lab starts it: resumed from the console's record."""
    farm = MeterFarm(clock)
    initial = resume_registers([meter.id], now=clock.now()).get(meter.id, 0.0)
    lab = farm.add(meter.serial, port=meter.port, initial_energy_kwh=initial, **sim)
    if meter.port != lab.port:
        meter.port = lab.port
        meter.save(update_fields=["port"])
    return farm, lab


def poll(clock, meter):
    # The timeout bounds a broken lab only: the farm answers in milliseconds.
    (result,) = polling.poll_meters([meter.id], timeout=30.0, clock=clock.now)
    return result


def test_a_restarted_lab_meter_resumes_its_register(clock, meter, settings):
    settings.HEAT_MAX_GAP_S = 30
    farm, _ = start_lab(clock, meter, load_kw=100, daily_swing=0)
    for _ in range(3):
        assert poll(clock, meter).ok
        clock.advance(10)
    before = MeterState.objects.get(meter=meter)
    assert before.register_baseline_kwh > 0
    farm.close()  # the lab stops, and comes back ten minutes later
    clock.advance(600)
    farm, _ = start_lab(clock, meter, load_kw=100, daily_swing=0)
    try:
        result = poll(clock, meter)
    finally:
        farm.close()
    assert result.ok, result.error
    assert not RejectedReading.objects.exists()  # no "register backwards", no "jump"
    last = Reading.objects.filter(meter=meter).latest("ts")
    assert last.energy_register_kwh >= before.register_baseline_kwh
    assert last.flags & QualityFlag.AFTER_GAP and not last.flags & QualityFlag.REBASED
    # The meter kept counting while the lab was down: 90 kW for 610 s, booked on return.
    assert last.energy_kwh - before.last_energy_kwh == pytest.approx(90 * 610 / 3600, abs=0.11)


def test_a_lab_meter_starts_from_the_register_seed_history_left(clock, meter):
    call_command("seed_history", days=20, end=date(2026, 1, 15), stdout=io.StringIO())
    seeded = MeterState.objects.get(meter=meter)
    last_day = DailyRollup.objects.filter(meter=meter).latest("day")
    assert seeded.register_baseline_kwh == last_day.register_last_kwh
    assert seeded.last_energy_kwh == last_day.cumulative_last_kwh
    farm, _ = start_lab(clock, meter)
    try:
        result = poll(clock, meter)
    finally:
        farm.close()
    assert result.ok, result.error
    assert not RejectedReading.objects.exists()
    first = Reading.objects.get(meter=meter)
    assert not first.flags & (QualityFlag.FIRST | QualityFlag.REBASED)
    assert first.energy_register_kwh >= seeded.register_baseline_kwh
    # History and live data are one register: a period across both bills the rollups' sum.
    start = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    period = selectors.site_energy(meter.site_id, start, clock.now().replace(hour=23, minute=1))
    rollups = sum(r.energy_kwh for r in DailyRollup.objects.filter(bucket_start__gte=start))
    assert period.energy_kwh == pytest.approx(rollups)
    [part] = period.meters
    assert part.end_reading.energy_kwh - part.start_reading.energy_kwh == pytest.approx(rollups)
