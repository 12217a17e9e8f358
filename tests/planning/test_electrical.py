"""Electrical energy per site and local day, integrated by the BMC sweep (`ElectricalDaily`)."""

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest

from apps.hardware import electrical, services
from apps.hardware import sweep as sweep_module
from apps.hardware.drivers import ipmi
from apps.hardware.electrical import PowerSample, electrical_pieces
from apps.hardware.models import ElectricalDaily, energy_source
from apps.hardware.sweep import CircuitBreaker
from apps.lab.bmc import LabBmcServer
from tests.factories import NodeFactory

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
# 23:59:30 in Paris (UTC+1 in January): a 60 s interval straddles local midnight.
T0 = datetime(2026, 1, 14, 22, 59, 30, tzinfo=UTC)


def _pieces(prev_state, prev_w, now_w, *, seconds=60, gap=90.0, now_state="on"):
    return electrical_pieces(
        PowerSample(T0, prev_state, prev_w),
        PowerSample(T0 + timedelta(seconds=seconds), now_state, now_w),
        nominal_w=1500.0,
        tz=PARIS,
        max_gap_s=gap,
    )


def test_measured_power_is_a_trapezoid_split_exactly_at_local_midnight():
    first, second = _pieces("on", 1000.0, 1600.0)
    assert (first.day, second.day) == (date(2026, 1, 14), date(2026, 1, 15))
    # 1000 W -> 1300 W over the first 30 s, 1300 W -> 1600 W over the next 30 s
    assert first.measured_kwh == pytest.approx((1000 + 1300) / 2 * 30 / 3.6e6)
    assert second.measured_kwh == pytest.approx((1300 + 1600) / 2 * 30 / 3.6e6)
    assert (first.measured_s, second.measured_s) == (30.0, 30.0)
    assert first.nominal_kwh == second.nominal_kwh == 0.0


def test_without_a_power_reading_nominal_power_counts_and_is_flagged_nominal():
    pieces = _pieces("on", None, None)
    assert sum(p.nominal_kwh for p in pieces) == pytest.approx(1500 * 60 / 3.6e6)
    assert sum(p.nominal_s for p in pieces) == 60.0
    assert sum(p.measured_s for p in pieces) == 0.0


def test_power_known_at_one_end_only_is_held_and_stays_measured():
    pieces = _pieces("on", 900.0, None)
    assert sum(p.measured_kwh for p in pieces) == pytest.approx(900 * 60 / 3.6e6)
    assert sum(p.nominal_s for p in pieces) == 0.0


def test_a_node_reported_off_draws_nothing_but_its_time_is_covered():
    pieces = _pieces("off", 0.0, 800.0)
    assert sum(p.measured_kwh for p in pieces) == 0.0
    assert sum(p.measured_s for p in pieces) == 60.0


@pytest.mark.parametrize(
    ("prev_state", "seconds"), [("on", 91), ("unknown", 60), ("on", 0), ("on", -5)]
)
def test_gaps_unknown_states_and_non_increasing_time_count_nothing(prev_state, seconds):
    assert _pieces(prev_state, 1000.0, 1000.0, seconds=seconds) == []


def test_no_previous_answer_counts_nothing():
    now = PowerSample(T0, "on", 1000.0)
    assert electrical_pieces(PowerSample(None, "unknown", None), now, nominal_w=1, tz=PARIS,
                             max_gap_s=90) == []  # fmt: skip


def test_source_says_measured_nominal_mixed_or_nothing():
    assert energy_source(10, 0) == "measured"
    assert energy_source(0, 10) == "nominal"
    assert energy_source(10, 10) == "mixed"
    assert energy_source(0, 0) is None
    assert energy_source(None, None) is None


@pytest.mark.django_db
def test_merge_adds_to_existing_rows_instead_of_replacing_them(site):
    day = date(2026, 1, 15)
    electrical.electrical_daily_merge([(site.pk, day, 1.0, 0.0, 60.0, 0.0)])
    electrical.electrical_daily_merge([(site.pk, day, 0.5, 2.0, 30.0, 90.0)])
    row = ElectricalDaily.objects.get(site=site, day=day)
    assert (row.energy_kwh, row.measured_kwh, row.nominal_kwh) == (3.5, 1.5, 2.0)
    assert (row.measured_s, row.nominal_s, row.covered_s) == (90.0, 90.0, 180.0)
    assert row.source == "mixed"


@pytest.fixture
def lab(monkeypatch, settings):
    # lab ports are reused between tests: a back-off left by another test must not skip them
    monkeypatch.setattr(sweep_module, "default_breaker", CircuitBreaker(base=60))
    settings.BMC_TIMEOUT = 10.0  # every BMC here answers: the timeout bounds a broken run only
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with LabBmcServer(count=2) as server:
        yield server
        ipmi.close_all()


@pytest.mark.django_db
def test_two_sweeps_book_the_measured_energy_of_the_interval_in_the_sites_local_day(lab, site):
    nodes = [
        NodeFactory(site=site, name=f"{site.code}-n{i}", bmc_port=lab.port(i)) for i in range(2)
    ]
    lab.bmc(1).set_power("off")
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    services.bmc_sweep_nodes([n.pk for n in nodes], now=t0)
    assert not ElectricalDaily.objects.exists()  # a first answer has no interval yet
    services.bmc_sweep_nodes([n.pk for n in nodes], now=t0 + timedelta(seconds=30))
    row = ElectricalDaily.objects.get(site=site)
    watts = lab.bmc(0).system_power_w()
    assert watts > 0
    assert row.day == date(2026, 3, 2)
    assert row.measured_kwh == pytest.approx(watts * 30 / 3.6e6, rel=0.02)
    assert row.covered_s == 60.0  # both nodes, the one off included
    assert row.nominal_kwh == 0.0
    assert row.source == "measured"


@pytest.mark.django_db
def test_a_bmc_without_power_readings_is_booked_at_nominal_power(lab, site, monkeypatch):
    lab.bmc(0).faults.no_dcmi = True
    monkeypatch.setattr(services, "_sensor_power", lambda readings: None)  # no power sensor
    node = NodeFactory(site=site, name="n-nominal", bmc_port=lab.port(0), nominal_power_w=1200)
    t0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    services.bmc_sweep_nodes([node.pk], now=t0)
    services.bmc_sweep_nodes([node.pk], now=t0 + timedelta(seconds=45))
    row = ElectricalDaily.objects.get(site=site)
    assert row.nominal_kwh == pytest.approx(1200 * 45 / 3.6e6)
    assert (row.measured_s, row.nominal_s) == (0.0, 45.0)
    assert row.source == "nominal"
