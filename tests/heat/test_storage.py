"""Ingestion, validation, rollups, statements and series, with hand-computed figures."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.heat import physics, selectors
from apps.heat.ingest import IngestError, ingest_readings
from apps.heat.meters import MeterReading
from apps.heat.models import (
    DailyRollup,
    HourlyRollup,
    MeterState,
    QualityFlag,
    Reading,
    RejectedReading,
)

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 2, 28, 22, 50, tzinfo=UTC)


def reading(ts, energy, *, power=60.0, supply=70.0, ret=40.0, **over):
    flow = physics.flow_for_power_m3h(power, supply, ret) if power else 0.0
    values = {"supply_c": supply, "return_c": ret, "flow_m3h": flow, "power_kw": power,
                  "energy_kwh": energy, "read_at": ts}  # fmt: skip
    values.update(over)
    return MeterReading(**values)


@pytest.fixture(autouse=True)
def ten_minute_gap_limit(settings):
    settings.HEAT_MAX_GAP_S = 900


def test_an_hour_of_readings_makes_one_hourly_rollup_with_full_coverage(make_meter):
    meter = make_meter()
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    batch = [reading(start + timedelta(minutes=10 * i), 500 + 10 * i) for i in range(7)]
    result = ingest_readings({meter.id: batch})
    assert result.accepted == 7 and result.rejected == 0
    hour = HourlyRollup.objects.get(meter=meter, bucket_start=start)
    assert hour.readings == 6  # 09:00 belongs to the next hour
    assert hour.energy_kwh == pytest.approx(50)  # first reading has no predecessor
    assert hour.covered_s == 3600
    assert hour.energy_power_kwh == pytest.approx(60)
    nxt = HourlyRollup.objects.get(meter=meter, bucket_start=start + timedelta(hours=1))
    assert (nxt.readings, nxt.energy_kwh, nxt.covered_s) == (1, 10, 0)
    day = DailyRollup.objects.get(meter=meter)
    assert str(day.day) == "2026-03-02" and day.energy_kwh == pytest.approx(60)


def test_ingesting_the_same_batch_twice_changes_nothing(make_meter):
    meter = make_meter()
    batch = [reading(T0 + timedelta(minutes=10 * i), 10 * i) for i in range(4)]
    ingest_readings({meter.id: batch})
    again = ingest_readings({meter.id: batch})
    assert again.accepted == 0 and again.meters[meter.id].duplicates == 1
    assert again.rejected == 3  # older than the last stored reading
    assert Reading.objects.count() == 4
    assert sum(h.energy_kwh for h in HourlyRollup.objects.all()) == pytest.approx(30)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"supply_c": 400.0}, "temperature_out_of_range"),
        ({"return_c": -2.0}, "temperature_out_of_range"),
        ({"flow_m3h": -1.0}, "negative_flow"),
        ({"power_kw": -5.0, "flow_m3h": 0.0}, "negative_power"),
        ({"supply_c": 30.0}, "supply_below_return"),
        ({"power_kw": 200.0}, "power_inconsistent"),
        ({"energy": 5.0}, "register_backwards"),
        ({"energy": 5000.0}, "register_jump"),
    ],
)
def test_physically_impossible_readings_are_rejected_not_stored(make_meter, bad, reason):
    meter = make_meter()
    ingest_readings({meter.id: [reading(T0, 100.0)]})
    energy = bad.pop("energy", 110.0)
    result = ingest_readings({meter.id: [reading(T0 + timedelta(minutes=10), energy, **bad)]})
    assert result.accepted == 0
    rejected = RejectedReading.objects.get()
    assert rejected.reason == reason and rejected.detail
    assert Reading.objects.count() == 1
    assert MeterState.objects.get(meter=meter).status == MeterState.Status.REJECTING


def test_after_a_register_jump_the_meter_recovers_from_the_new_baseline(make_meter):
    meter = make_meter()
    ingest_readings({meter.id: [reading(T0, 100.0)]})
    later = [
        reading(T0 + timedelta(minutes=10), 9000.0),
        reading(T0 + timedelta(minutes=20), 9020.0),
    ]
    result = ingest_readings({meter.id: later})
    assert [r.reason for r in result.meters[meter.id].rejected] == ["register_jump"]
    row = Reading.objects.latest("ts")
    # The jump is not billed: only the 20 kWh after it count.
    assert row.energy_kwh == pytest.approx(120.0)
    assert row.flags & QualityFlag.REBASED


def test_frozen_register_under_power_is_rejected(make_meter):
    meter = make_meter()
    batch = [reading(T0 + timedelta(minutes=i), 100.0) for i in range(6)]
    result = ingest_readings({meter.id: batch})
    # 60 kW for 3 minutes would have moved the register by 3 kWh: frozen from then on.
    assert result.accepted == 4
    assert {r.reason for r in result.meters[meter.id].rejected} == {"frozen"}


def test_rollover_keeps_the_cumulative_energy_monotonic(make_meter):
    meter = make_meter(model="compact-8digit")
    regs = [99_999_980.0, 99_999_990.0, 0.0, 10.0]
    batch = [reading(T0 + timedelta(minutes=10 * i), e) for i, e in enumerate(regs)]
    ingest_readings({meter.id: batch})
    rows = list(Reading.objects.order_by("ts"))
    assert [r.energy_kwh for r in rows] == [99_999_980, 99_999_990, 100_000_000, 100_000_010]
    assert rows[2].flags & QualityFlag.ROLLOVER
    period = selectors.site_energy(meter.site_id, T0, T0 + timedelta(hours=1))
    assert period.energy_kwh == pytest.approx(30)


def march_readings():
    """Readings around March 2026 in Paris (DST on 29 March), 60 kW, see the statement test."""
    rows = [reading(T0, 1000.0)]
    for i in range(13):  # 23:00 UTC on 28 Feb = midnight in Paris, then every 10 min
        supply = 70.0 if i < 6 else 60.0
        rows.append(reading(T0 + timedelta(minutes=10 + 10 * i), 1010.0 + 10 * i, supply=supply))
    rows.append(reading(datetime(2026, 3, 31, 21, 40, tzinfo=UTC), 5000.0))
    rows.append(reading(datetime(2026, 3, 31, 21, 50, tzinfo=UTC), 5010.0))
    rows.append(reading(datetime(2026, 3, 31, 22, 0, tzinfo=UTC), 5020.0))  # April in Paris
    return rows


def test_monthly_statement_in_paris_matches_hand_computed_figures(make_meter):
    meter = make_meter("HM-PARIS")
    ingest_readings({meter.id: march_readings()})
    st = selectors.monthly_statement(meter.site_id, 2026, 3)
    (line,) = st["lines"]
    assert line["meter_serial"] == "HM-PARIS"
    assert line["start_register_kwh"] == 1000.0  # last reading before local midnight
    assert line["end_register_kwh"] == 5010.0  # 00:00 CEST on 1 April is April's
    assert st["energy_kwh"] == pytest.approx(4010.0)
    # Covered: 2 h on 1 March, 20 min on 31 March; March in Paris lasts 743 h (DST).
    assert st["coverage"] == pytest.approx(8400 / (743 * 3600))
    assert st["hours_below_contract"] == pytest.approx(1.0)
    assert st["hours_at_or_above_contract"] == pytest.approx(4 / 3)
    assert st["period_start"].isoformat() == "2026-03-01T00:00:00+01:00"
    assert st["period_end"].isoformat() == "2026-04-01T00:00:00+02:00"


def test_gaps_stay_gaps_in_series(make_meter):
    meter = make_meter()
    ingest_readings({meter.id: march_readings()})
    start = datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    hours = selectors.site_series(meter.site_id, start, start + timedelta(hours=4), "hour")
    assert [p["coverage"] for p in hours] == [1.0, 1.0, 0.0, 0.0]
    assert hours[2]["power_kw"] is None  # a lone reading at 01:00: energy, no coverage
    assert hours[3]["energy_kwh"] is None and hours[3]["supply_avg_c"] is None
    assert hours[1]["power_kw"] == pytest.approx(60)
    days = selectors.site_series(meter.site_id, start, start + timedelta(days=31, hours=-1), "day")
    assert len(days) == 31
    assert [d["energy_kwh"] is None for d in days[1:30]] == [True] * 29
    assert days[0]["coverage"] == pytest.approx(2 / 24)


def test_raw_series_breaks_the_line_at_gaps(make_meter):
    meter = make_meter()
    day = datetime(2026, 3, 2, tzinfo=UTC)
    stamps = [day, day + timedelta(minutes=10), day + timedelta(hours=5)]
    ingest_readings({meter.id: [reading(t, 100.0 + i) for i, t in enumerate(stamps)]})
    raw = selectors.site_series(meter.site_id, day, day + timedelta(days=1), "raw")
    assert [p["power_kw"] for p in raw] == [60.0, 60.0, None, 60.0]
    assert raw[2]["ts"] == day + timedelta(minutes=25)  # where coverage ends (gap limit)


def test_meter_replacement_sums_each_meters_own_register(make_meter, site):
    old = make_meter("HM-OLD", removed_at=datetime(2026, 3, 15, 12, 0, tzinfo=UTC))
    new = make_meter("HM-NEW", installed_at=datetime(2026, 3, 15, 12, 0, tzinfo=UTC))
    ingest_readings({
        old.id: [reading(datetime(2026, 3, 10, 10, m, tzinfo=UTC), 200.0 + m) for m in (0, 10)]
        + [reading(datetime(2026, 3, 15, 11, 50, tzinfo=UTC), 300.0)],
        new.id: [reading(datetime(2026, 3, 15, 12, 10, tzinfo=UTC), 5.0),
                 reading(datetime(2026, 3, 15, 12, 20, tzinfo=UTC), 15.0),
                 reading(datetime(2026, 3, 31, 10, 0, tzinfo=UTC), 25.0)],
    })  # fmt: skip
    st = selectors.monthly_statement(site.id, 2026, 3)
    lines = {ln["meter_serial"]: ln for ln in st["lines"]}
    assert lines["HM-OLD"]["energy_kwh"] == pytest.approx(100.0)
    assert lines["HM-NEW"]["energy_kwh"] == pytest.approx(20.0)
    assert st["energy_kwh"] == pytest.approx(120.0)


def test_summary_compares_with_last_year_and_reports_current_state(make_meter):
    meter = make_meter()
    ingest_readings({meter.id: march_readings()})
    summary = selectors.site_heat_summary(meter.site_id, datetime(2026, 3, 1, 1, 0, tzinfo=UTC))
    # 02:00 in Paris on 1 March: 00:00-02:00 local is 23:00-01:00 UTC.
    assert summary["today"]["energy_kwh"] == pytest.approx(120.0)
    assert summary["today"]["coverage"] == pytest.approx(1.0)
    assert summary["today"]["availability"] == pytest.approx(0.5)
    # No reading a year before: the energy then is unknown, not 0 kWh.
    assert summary["today_last_year"]["energy_kwh"] is None
    assert summary["today_last_year"]["coverage"] == 0.0
    (current,) = summary["current"]
    assert current["status"] == "ok" and current["supply_ok"] is True


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: selectors.site_series(s, T0, T0 + timedelta(hours=1), "minute"), "resolution"),
        (lambda s: selectors.site_series(s, T0, T0 - timedelta(hours=1), "hour"), "after"),
        (lambda s: selectors.site_series(s, None, T0, "hour"), "required"),
        (lambda s: selectors.site_series(s, T0, T0 + timedelta(days=30), "raw"), "limited"),
        (lambda s: selectors.monthly_statement(s, 2026, 13), "impossible"),
        (lambda s: selectors.site_energy(s, T0.replace(tzinfo=None), T0), "time zone"),
    ],
)
def test_bad_query_parameters_raise_one_error_type_with_the_reason(site, call, message):
    with pytest.raises(selectors.HeatQueryError, match=message):
        call(site.id)


def test_unknown_meter_or_naive_time_is_an_ingest_error(make_meter):
    meter = make_meter()
    with pytest.raises(IngestError):
        ingest_readings({meter.id + 99: [reading(T0, 1.0)]})
    with pytest.raises(IngestError):
        ingest_readings({meter.id: [reading(T0.replace(tzinfo=None), 1.0)]})
