"""Seeded history tells one story: statements, the site page, the API and the comparison read
the same heat for the same days, and seeding never rewrites or contradicts live data. Seeded up
to now, today is covered and the lab's meter continues it without a rejected reading."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.hardware.models import ElectricalDaily
from apps.heat import figures, polling, statements
from apps.heat import selectors as heat
from apps.heat.buckets import day_bucket
from apps.heat.ingest import ingest_readings
from apps.heat.models import (
    DailyRollup,
    HourlyRollup,
    MeterState,
    QualityFlag,
    Reading,
    RejectedReading,
)
from apps.lab.bmc import LabBmcServer
from apps.lab.management.commands.run_lab import bmc_configs
from apps.lab.meters import MeterFarm, SimClock
from apps.lab.meters.resume import resume_registers
from apps.planning.selectors import Period, compare_sites
from apps.sites.models import HeatMeter, Node, Site
from tests.factories import NodeFactory
from tests.planning.conftest import series

END = date(2026, 3, 5)  # seeded up to 4 March; October's DST change inside
NOW = datetime(2026, 3, 5, 11, 0, tzinfo=UTC)  # noon in Paris, nothing read today
DAY = timedelta(days=1)
POLL_S = 10


@pytest.fixture
def meter(site):
    # Four racks drawing ~25 kW at the lab's load: about what the 40 kW site's history holds.
    for k in range(4):
        NodeFactory(site=site, name=f"lyo-0001-n{k + 1:02d}", nominal_power_w=9000)
    return HeatMeter.objects.create(site=site, serial="HM-1", host="127.0.0.1")


def seed(days=150, end=END):
    call_command("seed_history", days=days, end=end, stdout=io.StringIO())


def compared_kwh(site: Site, start: date, end: date, now: datetime = NOW) -> float | None:
    [row] = compare_sites(sites=Site.objects.filter(pk=site.pk), period=Period(start, end),
                          now=now).rows  # fmt: skip
    return None if row.heat_mwh is None else row.heat_mwh * 1000


def test_a_seeded_months_statement_bills_what_the_comparison_shows(site, meter):
    seed()
    statement = heat.monthly_statement(site.id, 2025, 11)
    [line] = statement["lines"]
    expected = compared_kwh(site, date(2025, 11, 1), date(2025, 12, 1))
    assert expected > 1000
    assert statement["energy_kwh"] == pytest.approx(expected)
    assert line["energy_kwh"] == pytest.approx(expected)
    # The statement's own arithmetic holds: end register - start register = energy.
    assert line["start_reading_at"] < statement["period_start"] < line["end_reading_at"]
    assert line["end_register_kwh"] - line["start_register_kwh"] == pytest.approx(expected)
    assert 0.9 <= line["coverage"] <= 1.0
    doc = statements.statement_document(statement, partner="p", generated_at=NOW)
    rows = list(csv.DictReader(io.StringIO(statements.statement_csv(doc))))
    assert rows[-1]["meter_serial"] == "TOTAL"
    assert rows[-1]["energy_kwh"] == statements.kwh(expected)


def test_the_site_page_and_the_api_agree_with_statement_and_comparison(
    client, partner, site, meter
):
    seed()
    summary = heat.site_heat_summary(site.id, NOW)
    month = compared_kwh(site, date(2026, 3, 1), END)
    year = compared_kwh(site, date(2026, 1, 1), END)
    assert summary["month"]["energy_kwh"] == pytest.approx(month)
    assert summary["year"]["energy_kwh"] == pytest.approx(year)
    assert summary["today"]["coverage"] == 0.0  # nothing read today: the page says "—"
    assert summary["year_last_year"]["energy_kwh"] is None
    rows = {r["key"]: r for r in figures.summary_rows(summary)}
    assert rows["month"]["energy"] == figures.energy_text(month)
    assert rows["year"]["energy"] == figures.energy_text(year)
    assert rows["today"]["energy"] == "—"
    client.force_login(partner)
    body = client.get(
        reverse("api:site-heat-statement", args=[site.pk]), {"month": "2026-02"}
    ).json()
    assert body["energy_kwh"] == pytest.approx(
        compared_kwh(site, date(2026, 2, 1), END.replace(day=1))
    )


def test_every_seeded_day_continues_the_register_of_the_day_before(site, meter):
    seed(days=60)
    days = list(DailyRollup.objects.filter(meter=meter).order_by("day"))
    for a, b in itertools.pairwise(days):
        assert b.cumulative_last_kwh - a.cumulative_last_kwh == pytest.approx(b.energy_kwh)
        assert b.register_last_kwh - a.register_last_kwh == pytest.approx(b.energy_kwh)
        # Registers sit on the meter's 0.1 kWh grid, exactly as its adapter decodes them.
        assert b.register_last_kwh == round(b.register_last_kwh * 10) * 0.1
    # DST days are 23 and 25 hours long, and their rollups say so.
    march = DailyRollup.objects.get(meter=meter, day=date(2026, 3, 1))
    assert march.covered_s <= 86_400
    state = MeterState.objects.get(meter=meter)
    assert state.register_baseline_kwh == days[-1].register_last_kwh
    assert state.last_energy_kwh == days[-1].cumulative_last_kwh
    assert state.last_ts == days[-1].last_ts < datetime(2026, 3, 4, 23, 0, tzinfo=UTC)


def test_seeding_keeps_live_days_and_meets_their_register_on_both_sides(site, meter):
    live_start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ingest_readings({meter.id: series(live_start, live_start + timedelta(hours=3),
                                      register=5000.0)})  # fmt: skip
    live_day = DailyRollup.objects.get(meter=meter)
    live_state = MeterState.objects.get(meter=meter)
    seed(days=10)
    seed(days=10)  # again, as every `make demo` does: same story
    kept = DailyRollup.objects.get(meter=meter, day=live_day.day)
    assert (kept.energy_kwh, kept.readings, kept.cumulative_last_kwh) == (
        live_day.energy_kwh, live_day.readings, live_day.cumulative_last_kwh,
    )  # fmt: skip
    before = DailyRollup.objects.get(meter=meter, day=date(2026, 3, 1))
    after = DailyRollup.objects.get(meter=meter, day=date(2026, 3, 3))
    assert before.cumulative_last_kwh == pytest.approx(5000.0)  # where live data begins
    assert before.register_last_kwh == pytest.approx(5000.0)
    assert after.cumulative_first_kwh == pytest.approx(live_state.last_energy_kwh)
    assert Reading.objects.filter(meter=meter).count() == 19
    # One register from the first seeded day through live data to the last seeded one.
    start = datetime(2026, 2, 22, 23, 0, tzinfo=UTC)
    end = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)
    period = heat.site_energy(site.id, start, end)
    [part] = period.meters
    total = sum(DailyRollup.objects.filter(meter=meter).values_list("energy_kwh", flat=True))
    assert period.energy_kwh == pytest.approx(total)
    assert part.end_reading.energy_kwh - part.start_reading.energy_kwh == pytest.approx(total)
    assert period.energy_kwh == pytest.approx(compared_kwh(site, date(2026, 2, 23), END))
    # The next live reading continues from the last seeded day.
    state = MeterState.objects.get(meter=meter)
    assert state.last_ts > live_state.last_ts
    newest = DailyRollup.objects.filter(meter=meter).latest("day")
    assert newest.day == date(2026, 3, 4) and state.last_ts == newest.last_ts
    assert state.last_energy_kwh == newest.cumulative_last_kwh


def test_the_statement_list_offers_the_seeded_months_with_their_heat(client, partner, site, meter):
    seed()
    client.force_login(partner)
    response = client.get(reverse("heat-statements", args=[site.pk]))
    rows = {row["month"]: row["energy"] for row in response.context["months"]}
    assert "2025-10" in rows
    assert rows["2025-11"] == figures.energy_text(compared_kwh(site, date(2025, 11, 1),
                                                               date(2025, 12, 1)))  # fmt: skip


# --- up to now ---------------------------------------------------------------------------------

TODAY = date(2026, 3, 5)
PRESENT = datetime(2026, 3, 5, 14, 27, 35, tzinfo=UTC)  # 15:27:35 in Paris
CURRENT_HOUR = datetime(2026, 3, 5, 14, 0, tzinfo=UTC)
RAW_START = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)  # the hour 6 hours ago began


def seed_to(now, days=20):
    call_command("seed_history", days=days, now=now, stdout=io.StringIO())


def stored(meter) -> dict[str, list[dict]]:
    """Everything seeding and ingestion store for the meter and its site, ids aside."""

    def rows(qs, *order):
        return [{k: v for k, v in r.items() if k != "id"} for r in qs.order_by(*order).values()]

    return {
        "daily": rows(DailyRollup.objects.filter(meter=meter), "bucket_start"),
        "hourly": rows(HourlyRollup.objects.filter(meter=meter), "bucket_start"),
        "raw": rows(Reading.objects.filter(meter=meter), "ts"),
        "state": rows(MeterState.objects.filter(meter=meter), "meter"),
        "electricity": rows(ElectricalDaily.objects.filter(site_id=meter.site_id), "day"),
    }


def test_seeding_up_to_now_fills_today_as_storage_keeps_recent_data(site, meter):
    seed_to(PRESENT)
    # Today: hourly rollups up to the live chart's window, then raw readings every 10 s from
    # the start of the hour it begins in up to now: the live chart reads them all.
    raw = list(Reading.objects.filter(meter=meter).order_by("ts"))
    assert raw[0].ts == RAW_START and raw[-1].ts == datetime(2026, 3, 5, 14, 27, 30, tzinfo=UTC)
    assert raw[0].ts <= PRESENT - figures.WINDOWS["live"][0]
    assert len(raw) == 6 * 360 + 166 and not RejectedReading.objects.exists()
    for a, b in itertools.pairwise(raw):
        assert b.ts - a.ts == timedelta(seconds=POLL_S)
    assert not raw[0].flags & (QualityFlag.FIRST | QualityFlag.AFTER_GAP | QualityFlag.REBASED)
    today_start = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)
    hours = list(HourlyRollup.objects.filter(meter=meter).order_by("bucket_start"))
    # Hours for the days the last 24 hours touch (4 and 5 March), none before.
    assert hours[0].bucket_start == datetime(2026, 3, 3, 23, 0, tzinfo=UTC)
    assert hours[-1].bucket_start == CURRENT_HOUR and len(hours) == 24 + 16
    for a, b in itertools.pairwise(hours):
        assert b.bucket_start - a.bucket_start == timedelta(hours=1)
        assert b.cumulative_last_kwh - a.cumulative_last_kwh == pytest.approx(b.energy_kwh)
    assert all(h.covered_s == pytest.approx(3600) for h in hours[:-1])
    # The hours add up to their day, today's raw readings included.
    for day in DailyRollup.objects.filter(meter=meter, day__gte=date(2026, 3, 4)):
        mine = [h for h in hours if day.bucket_start <= h.bucket_start < day.bucket_start
                + timedelta(days=1)]  # fmt: skip
        assert day.energy_kwh == pytest.approx(sum(h.energy_kwh for h in mine))
        assert day.covered_s == pytest.approx(sum(h.covered_s for h in mine))
        assert day.readings == sum(h.readings for h in mine)
        assert day.cumulative_last_kwh == mine[-1].cumulative_last_kwh
    today = DailyRollup.objects.get(meter=meter, day=TODAY)
    assert today.last_ts == raw[-1].ts and today.cumulative_last_kwh == raw[-1].energy_kwh
    state = MeterState.objects.get(meter=meter)
    assert state.status == MeterState.Status.OK and state.last_ts == raw[-1].ts
    assert state.register_baseline_kwh == raw[-1].energy_register_kwh
    # Today reads as covered and tells the comparison's story.
    summary = heat.site_heat_summary(site.id, PRESENT)
    assert summary["today"]["coverage"] > 0.999
    assert summary["today"]["availability"] is not None
    today_kwh = sum(h.energy_kwh for h in hours if h.bucket_start >= today_start)
    assert summary["today"]["energy_kwh"] == pytest.approx(today_kwh)
    assert compared_kwh(site, TODAY, TODAY + timedelta(days=1), now=PRESENT) == pytest.approx(
        today_kwh
    )
    assert summary["month"]["energy_kwh"] == pytest.approx(
        compared_kwh(site, date(2026, 3, 1), TODAY + timedelta(days=1), now=PRESENT)
    )
    # The last 24 hours chart: every hour covered, no hour booking a gap's heat in one go.
    points = heat.site_series(site.id, PRESENT - timedelta(hours=24), PRESENT, "hour")
    assert len(points) == 24
    assert all(p["coverage"] > 0.99 for p in points[:-1])
    whole = [p["energy_kwh"] for p in points[:-1]]
    assert max(whole) < 1.5 * min(whole)  # the servers' daily swing is ±15 %
    # Electricity today is today's so far.
    elec = ElectricalDaily.objects.get(site_id=site.id, day=TODAY)
    yesterday = ElectricalDaily.objects.get(site_id=site.id, day=TODAY - timedelta(days=1))
    assert elec.covered_s == pytest.approx(yesterday.covered_s * (PRESENT - today_start) / DAY)


@pytest.mark.parametrize(
    "now",
    [
        datetime(2025, 10, 26, 19, 30, 5, tzinfo=UTC),  # a 25-hour day in Paris
        datetime(2026, 3, 29, 21, 50, tzinfo=UTC),  # the 23-hour day, 10 min before midnight
        datetime(2026, 3, 30, 22, 0, tzinfo=UTC),  # midnight on the dot: no reading yet today
        datetime(2026, 3, 4, 23, 5, tzinfo=UTC),  # five minutes into a day: readings only
    ],
)
def test_today_is_covered_and_adds_up_whatever_the_day(site, meter, now):
    seed_to(now)
    assert not RejectedReading.objects.exists()
    hours = list(HourlyRollup.objects.filter(meter=meter).order_by("bucket_start"))
    for a, b in itertools.pairwise(hours):
        assert b.bucket_start - a.bucket_start == timedelta(hours=1)
        assert b.cumulative_last_kwh - a.cumulative_last_kwh == pytest.approx(b.energy_kwh)
    for day in DailyRollup.objects.filter(meter=meter, bucket_start__gte=hours[0].bucket_start):
        mine = [h for h in hours if day.bucket_start <= h.bucket_start < day.bucket_start
                + timedelta(hours=25)]  # fmt: skip
        mine = [h for h in mine if day.first_ts <= h.last_ts <= day.last_ts]
        assert day.energy_kwh == pytest.approx(sum(h.energy_kwh for h in mine))
    state = MeterState.objects.get(meter=meter)
    assert now - timedelta(seconds=POLL_S) <= state.last_ts < now
    elapsed = (now - day_bucket(now, site.tzinfo)[0]).total_seconds()  # real seconds (DST)
    today = heat.site_heat_summary(site.id, now)["today"]
    if not elapsed:
        assert today is None  # today has not begun: the raw window is yesterday's evening
        assert Reading.objects.latest("ts").ts == now - timedelta(seconds=POLL_S)
        return
    # Covered up to the last reading: only the interval to the next one is open.
    assert (1 - today["coverage"]) * elapsed <= POLL_S + 1e-6
    day = now.astimezone(site.tzinfo).date()
    assert today["energy_kwh"] == pytest.approx(compared_kwh(site, day, day + DAY, now=now))


def test_the_lab_meter_continues_the_seeded_present_without_a_rejection(site, meter):
    seed_to(PRESENT)
    seeded = MeterState.objects.get(meter=meter)
    clock = SimClock(PRESENT + timedelta(seconds=40), speed=0)  # the lab starts 40 s later
    farm = MeterFarm(clock)
    try:
        initial = resume_registers([meter.id], now=clock.now())[meter.id]
        lab = farm.add(meter.serial, port=meter.port, initial_energy_kwh=initial)
        HeatMeter.objects.filter(pk=meter.pk).update(port=lab.port)
        for _ in range(3):
            (result,) = polling.poll_meters([meter.id], timeout=30.0, clock=clock.now)
            assert result.ok, result.error
            clock.advance(10)
    finally:
        farm.close()
    assert not RejectedReading.objects.exists()  # no "register backwards", no "frozen"
    live = list(Reading.objects.filter(meter=meter, ts__gt=seeded.last_ts).order_by("ts"))
    assert len(live) == 3
    assert not live[0].flags & (QualityFlag.FIRST | QualityFlag.REBASED)
    assert live[0].energy_register_kwh >= seeded.register_baseline_kwh
    # The 50 s between the last seeded reading and the first live one: a short gap, its heat
    # booked on return (a few kWh at most, not the day's).
    assert live[0].energy_kwh - seeded.last_energy_kwh < 1.0
    summary = heat.site_heat_summary(site.id, clock.now())
    assert summary["today"]["coverage"] > 0.99


def lab_readings(meter, start: datetime, polls: int) -> list[Reading]:
    """Start the site's lab as ``run_lab`` does (its nodes' BMCs, the meter resuming from the
    console's record and drawing the nodes' power) and poll the meter ``polls`` times."""
    clock = SimClock(start, speed=0)
    nodes = list(Node.objects.filter(site=meter.site_id).order_by("name"))
    bmcs = LabBmcServer(configs=[c for run in bmc_configs(nodes) for c in run]).start()
    farm = MeterFarm(clock)
    try:
        initial = resume_registers([meter.id], now=clock.now())[meter.id]
        lab = farm.add(meter.serial, model=meter.model, timezone=meter.site.timezone,
                       nominal_kw=float(meter.site.nominal_capacity_kw),
                       initial_energy_kwh=initial)  # fmt: skip
        lab.sim.set_load(sum(bmc.system_power_w() for bmc in bmcs.bmcs) / 1000)
        HeatMeter.objects.filter(pk=meter.pk).update(port=lab.port)
        for _ in range(polls):
            (result,) = polling.poll_meters([meter.id], timeout=30.0, clock=clock.now)
            assert result.ok, result.error
            clock.advance(10)
    finally:
        farm.close()
        bmcs.stop()
    return list(Reading.objects.filter(meter=meter, ts__gte=start).order_by("ts"))


@pytest.mark.parametrize(
    "now",
    [PRESENT, datetime(2026, 7, 14, 3, 0, 5, tzinfo=UTC)],  # winter afternoon, summer night
)
def test_the_live_chart_is_seeded_and_the_lab_meter_goes_on_without_a_jump(site, meter, now):
    seed_to(now)
    start, end, resolution = figures.window_range("live", now)
    assert resolution == "raw"
    seeded = list(Reading.objects.filter(meter=meter).order_by("ts"))
    # The live chart's window is raw readings every 10 s, all of it.
    assert seeded[0].ts <= start and end - timedelta(seconds=POLL_S) <= seeded[-1].ts < end
    assert {b.ts - a.ts for a, b in itertools.pairwise(seeded)} == {timedelta(seconds=POLL_S)}
    [live, *_] = lab_readings(meter, now + timedelta(seconds=40), polls=2)
    assert not RejectedReading.objects.exists()
    last = seeded[-1]
    # What the lab meter reports first is what the seeded readings said just before.
    assert live.supply_c == pytest.approx(last.supply_c, abs=0.1)
    assert live.return_c == pytest.approx(last.return_c, abs=0.1)
    assert live.power_kw == pytest.approx(last.power_kw, rel=0.01)
    assert live.flow_m3h == pytest.approx(last.flow_m3h, rel=0.01)
    assert live.power_kw > 10  # the site's four racks, not the meter's idle default
    # No jump either where the seeded hours meet the raw window (the 24 hours chart).
    hours = list(HourlyRollup.objects.filter(meter=meter, bucket_start__lt=seeded[0].ts))
    last_hour = max(hours, key=lambda h: h.bucket_start)
    first_raw = seeded[:360]
    mean = sum(r.power_kw for r in first_raw) / len(first_raw)
    assert last_hour.power_sum_kw / last_hour.readings == pytest.approx(mean, rel=0.05)
    assert last_hour.supply_sum_c / last_hour.readings == pytest.approx(70.0, abs=0.1)
    # The older days drift to the lab meter's figures: the day before the hours is close.
    [eve] = DailyRollup.objects.filter(meter=meter, bucket_start__lt=hours[0].bucket_start
                                       ).order_by("-bucket_start")[:1]  # fmt: skip
    assert eve.supply_sum_c / eve.readings == pytest.approx(70.0, abs=1.5)
    assert eve.power_sum_kw / eve.readings == pytest.approx(mean, rel=0.25)


def test_large_fleets_get_the_raw_window_for_the_first_meters_only(site, meter, other_site):
    other = HeatMeter.objects.create(site=other_site, serial="HM-2", host="127.0.0.1")
    call_command("seed_history", days=3, now=PRESENT, raw_meters=1, stdout=io.StringIO())
    assert Reading.objects.filter(meter=meter).earliest("ts").ts == RAW_START
    assert Reading.objects.filter(meter=other).earliest("ts").ts == CURRENT_HOUR
    assert not RejectedReading.objects.exists()
    # The other meter's hours run up to the current hour, covered, and continue its readings.
    hours = list(HourlyRollup.objects.filter(meter=other).order_by("bucket_start"))
    assert hours[-1].bucket_start == CURRENT_HOUR
    assert all(h.covered_s == pytest.approx(3600) for h in hours[-8:-1])


def test_seeding_again_changes_nothing_live_and_tomorrow_continues_it(site, meter):
    seed_to(PRESENT)
    first = stored(meter)
    seed_to(PRESENT + timedelta(hours=2))  # `make demo` again, the same day
    assert stored(meter) == first
    # The next day, after the demo stopped: the day with readings stays as stored (the days
    # before it are seeded again, meeting it), the new day continues it.
    state = MeterState.objects.get(meter=meter)
    seed_to(PRESENT + timedelta(days=1))
    again = stored(meter)
    today_start = datetime(2026, 3, 4, 23, 0, tzinfo=UTC)
    for kind, key, since in (("daily", "day", TODAY), ("hourly", "bucket_start", today_start)):
        kept = [r for r in again[kind] if since <= r[key] < since + DAY]
        assert kept == [r for r in first[kind] if since <= r[key]]
    assert again["raw"][: len(first["raw"])] == first["raw"]
    assert not RejectedReading.objects.exists()
    # The day before is history now: daily, no hours left of the first run's chain.
    assert min(r["bucket_start"] for r in again["hourly"]) == today_start
    eve = DailyRollup.objects.get(meter=meter, day=TODAY - DAY)
    assert eve.cumulative_last_kwh == first["hourly"][24]["cumulative_first_kwh"]
    tomorrow = DailyRollup.objects.get(meter=meter, day=TODAY + timedelta(days=1))
    assert tomorrow.cumulative_first_kwh == state.last_energy_kwh
    assert tomorrow.register_first_kwh == state.register_baseline_kwh
    after = MeterState.objects.get(meter=meter)
    assert after.last_ts == datetime(2026, 3, 6, 14, 27, 30, tzinfo=UTC)


def test_seeding_never_overwrites_a_live_today(site, meter):
    live_start = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    ingest_readings({meter.id: series(live_start, live_start + timedelta(hours=3),
                                      register=5000.0)})  # fmt: skip
    live = stored(meter)
    seed_to(PRESENT)
    now = stored(meter)
    for kind in ("raw", "state"):
        assert now[kind] == live[kind]
    assert [r for r in now["daily"] if r["day"] == TODAY] == live["daily"]
    assert [r for r in now["hourly"] if r["bucket_start"] >= live_start] == live["hourly"]
    before = DailyRollup.objects.get(meter=meter, day=TODAY - timedelta(days=1))
    assert before.cumulative_last_kwh == pytest.approx(5000.0)


def test_a_raw_window_beginning_on_a_live_day_is_read_after_it(site, meter):
    # The demo stopped at 22:00 in Paris and is started again at 02:00: the live window begins
    # on yesterday, kept whole; today is read from its midnight, continuing the meter's state.
    live_end = datetime(2026, 3, 4, 21, 0, tzinfo=UTC)
    ingest_readings({meter.id: series(live_end - timedelta(hours=2), live_end,
                                      register=5000.0)})  # fmt: skip
    live = stored(meter)
    now = datetime(2026, 3, 5, 1, 0, 5, tzinfo=UTC)
    seed_to(now)
    assert not RejectedReading.objects.exists()
    after = stored(meter)
    assert after["raw"][: len(live["raw"])] == live["raw"]
    assert [r for r in after["daily"] if r["day"] == TODAY - DAY] == live["daily"]
    today = Reading.objects.filter(meter=meter, ts__gt=live_end).order_by("ts")
    assert today.first().ts == datetime(2026, 3, 4, 23, 0, tzinfo=UTC)  # midnight in Paris
    assert today.last().ts == now - timedelta(seconds=5)
    assert today.first().energy_register_kwh >= live["raw"][-1]["energy_register_kwh"]
    assert MeterState.objects.get(meter=meter).last_ts == today.last().ts


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"now": PRESENT, "end": END}, "exclude"),
        ({"now": datetime(2026, 3, 5, 12, 0)}, "offset"),
        ({"days": 0}, "between"),
        ({"now": PRESENT, "raw_hours": 25}, "raw-hours"),
        ({"now": PRESENT, "raw_meters": -1}, "raw-meters"),
    ],
)
def test_bad_options_are_refused_with_the_reason(site, meter, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_history", stdout=io.StringIO(), **options)
