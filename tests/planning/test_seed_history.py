"""Seeded history tells one story: statements, the site page, the API and the comparison read
the same heat for the same days, and seeding never rewrites or contradicts live data."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.heat import figures, statements
from apps.heat import selectors as heat
from apps.heat.ingest import ingest_readings
from apps.heat.models import DailyRollup, MeterState, Reading
from apps.planning.selectors import Period, compare_sites
from apps.sites.models import HeatMeter, Site
from tests.factories import NodeFactory
from tests.planning.conftest import series

END = date(2026, 3, 5)  # seeded up to 4 March; October's DST change inside
NOW = datetime(2026, 3, 5, 11, 0, tzinfo=UTC)  # noon in Paris, nothing read today


@pytest.fixture
def meter(site):
    NodeFactory(site=site, name="lyo-0001-n01")
    return HeatMeter.objects.create(site=site, serial="HM-1", host="127.0.0.1")


def seed(days=150, end=END):
    call_command("seed_history", days=days, end=end, stdout=io.StringIO())


def compared_kwh(site: Site, start: date, end: date) -> float | None:
    [row] = compare_sites(sites=Site.objects.filter(pk=site.pk), period=Period(start, end),
                          now=NOW).rows  # fmt: skip
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
