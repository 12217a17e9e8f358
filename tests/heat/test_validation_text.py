"""What a rejection says: register values as people read them, without float noise."""

from datetime import UTC, datetime, timedelta

from apps.heat import physics
from apps.heat.meters import MeterReading
from apps.heat.validation import Previous, validate_reading

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def reading(energy: float) -> MeterReading:
    flow = physics.flow_for_power_m3h(5.0, 70.0, 40.0)
    return MeterReading(supply_c=70.0, return_c=40.0, flow_m3h=flow, power_kw=5.0,
                        energy_kwh=energy, read_at=T0 + timedelta(seconds=10))  # fmt: skip


def test_a_register_backwards_rejection_rounds_both_registers():
    previous = Previous(ts=T0, power_kw=5.0, register_kwh=12 * 0.1)  # 1.2000000000000002
    verdict = validate_reading(reading(0.0), previous=previous, rollover_kwh=1e8)
    assert verdict.reason == "register_backwards"
    assert verdict.detail == "register 0.0 kWh below previous 1.2 kWh"


def test_a_rejection_keeps_the_decimals_that_tell_two_registers_apart():
    previous = Previous(ts=T0, power_kw=5.0, register_kwh=1000.125)
    verdict = validate_reading(reading(1000.1), previous=previous, rollover_kwh=1e8)
    assert verdict.detail == "register 1000.1 kWh below previous 1000.125 kWh"


def test_a_register_out_of_range_says_the_value_plainly():
    verdict = validate_reading(reading(1e8 + 0.30000000000000004), previous=None, rollover_kwh=1e8)
    assert verdict.detail == "register 100000000.3 kWh"
