"""The lab heat meters, read by the production Modbus adapter over TCP on loopback."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from apps.heat import physics
from apps.heat.meters import MeterError, driver_for
from apps.lab.meters import MeterFarm, SimClock
from apps.lab.meters.simulation import OMEGA, PHASE

START = datetime(2026, 1, 14, 23, 0, tzinfo=UTC)  # midnight in Paris


@pytest.fixture
def clock():
    return SimClock(START, speed=0)


@pytest.fixture
def farm(clock):
    with MeterFarm(clock) as f:
        yield f


def read(meter, clock, timeout=30.0):
    """One read; the timeout bounds a broken lab only (the farm answers in milliseconds)."""
    driver = driver_for(
        protocol="modbus_tcp", host=meter.host, port=meter.port, unit_id=meter.unit_id,
        model=meter.sim.model, timeout=timeout, clock=clock.now,
    )  # fmt: skip
    return driver.read()


@pytest.mark.parametrize("model", ["generic", "compact-8digit"])
def test_reading_over_modbus_follows_the_physics(farm, clock, model):
    meter = farm.add("HM-1", model=model, unit_id=3, nominal_kw=90, load_kw=100, daily_swing=0)
    clock.advance(7 * 3600)  # 07:00 in Paris: the coldest return of the day
    r = read(meter, clock)
    assert r.power_kw == pytest.approx(90.0, abs=0.1)
    assert r.supply_c == pytest.approx(70.0, abs=0.01)
    assert r.return_c == pytest.approx(40.0, abs=0.01)
    expected = physics.thermal_power_kw(r.flow_m3h, r.supply_c, r.return_c)
    assert expected == pytest.approx(r.power_kw, rel=2e-3)
    assert r.energy_kwh == pytest.approx(90 * 7, abs=1.0)
    assert r.read_at == clock.now()


def test_energy_register_is_the_analytic_integral_of_power_over_a_day(farm, clock):
    meter = farm.add("HM-1", load_kw=120, daily_swing=0.2)
    clock.advance(86_400)
    r = read(meter, clock)
    t0, t1 = START.timestamp(), START.timestamp() + 86_400
    analytic = 0.9 * 120 * ((t1 - t0) - 0.2 / OMEGA * (
        math.cos(OMEGA * t1 + PHASE) - math.cos(OMEGA * t0 + PHASE))) / 3600  # fmt: skip
    assert r.energy_kwh == pytest.approx(analytic, abs=0.1)
    # Over a whole day the sine integrates to zero: the mean load is the base load.
    assert analytic == pytest.approx(0.9 * 120 * 24, rel=1e-9)


def test_changing_the_load_changes_power_and_keeps_energy_continuous(farm, clock):
    meter = farm.add("HM-1", load_kw=100, daily_swing=0)
    clock.advance(3600)
    meter.sim.set_load(50)
    clock.advance(3600)
    r = read(meter, clock)
    assert r.power_kw == pytest.approx(45.0, abs=0.01)
    assert r.energy_kwh == pytest.approx(90 + 45, abs=0.1)


def test_register_wraps_at_the_models_rollover(farm, clock):
    meter = farm.add("HM-1", model="compact-8digit", load_kw=100, daily_swing=0)
    meter.sim.set_register_to(1e8 - 30)
    clock.advance(3600)  # 90 kWh later
    assert read(meter, clock).energy_kwh == pytest.approx(60, abs=1)


def test_offline_meter_refuses_connections_then_comes_back(farm, clock):
    meter = farm.add("HM-1")
    farm.set_offline("HM-1", "refuse")
    with pytest.raises(MeterError) as err:
        read(meter, clock)
    assert err.value.cause == "unreachable" and err.value.transient
    farm.set_offline("HM-1", None)
    assert read(meter, clock).power_kw > 0


def test_silent_meter_times_out_as_transient_error(farm, clock):
    meter = farm.add("HM-1")
    farm.set_offline("HM-1", "silent")
    with pytest.raises(MeterError) as err:
        read(meter, clock, timeout=0.5)
    assert err.value.transient
    farm.set_offline("HM-1", None)
    assert read(meter, clock).power_kw > 0


def test_wrong_unit_id_or_map_is_a_fatal_error(farm, clock):
    meter = farm.add("HM-1", model="generic")
    driver = driver_for(
        protocol="modbus_tcp", host=meter.host, port=meter.port, unit_id=1,
        model="compact-8digit", timeout=30,
    )  # fmt: skip
    with pytest.raises(MeterError) as err:
        driver.read()
    assert err.value.cause == "modbus_exception" and not err.value.transient
    with pytest.raises(MeterError) as err:
        driver_for(protocol="modbus_tcp", host="h", port=1, unit_id=1, model="nope")
    assert not err.value.transient


def test_frozen_meter_keeps_showing_old_values(farm, clock):
    meter = farm.add("HM-1", daily_swing=0)
    clock.advance(600)
    meter.sim.freeze()
    before = read(meter, clock)
    clock.advance(3600)
    after = read(meter, clock)
    assert (after.energy_kwh, after.return_c) == (before.energy_kwh, before.return_c)
    meter.sim.clear_faults()
    assert read(meter, clock).energy_kwh > before.energy_kwh


@pytest.mark.parametrize(("kind", "check"), [
    ("hot", lambda r: r.supply_c == 400.0),
    ("negative_flow", lambda r: r.flow_m3h < 0),
])  # fmt: skip
def test_nonsense_readings_reach_the_client(farm, clock, kind, check):
    meter = farm.add("HM-1")
    meter.sim.set_nonsense(kind)
    assert check(read(meter, clock))


def test_clock_runs_at_its_speed_factor():
    clock = SimClock(START, speed=3600)
    clock.set(START, speed=0)
    clock.advance(90)
    assert clock.now() == START + timedelta(seconds=90)
    with pytest.raises(ValueError):
        SimClock(datetime(2026, 1, 1), speed=1)
