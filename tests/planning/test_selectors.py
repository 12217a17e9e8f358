"""The comparison engine against hand-computed figures (tests/planning/conftest.py)."""

import io
from datetime import date, datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.heat import selectors as heat_selectors
from apps.heat.models import DailyRollup
from apps.planning import selectors
from apps.planning.selectors import CompareError, Period
from apps.sites.models import Site
from tests.planning.conftest import DAY1, END, NOW, PERIOD

pytestmark = pytest.mark.django_db


def compare(fleet):
    rows = selectors.compare_sites(sites=Site.objects.all(), period=PERIOD, now=NOW).rows
    return {r.code: r for r in rows}


def test_a_steady_site_has_the_hand_computed_figures(fleet):
    r = compare(fleet)["lyo-0001"]
    assert r.heat_mwh == pytest.approx(2.88)
    assert r.heat_power_mwh == pytest.approx(2.88)
    assert r.supply_min_c == 62.0
    assert r.supply_avg_c == pytest.approx((287 * 70 + 62) / 288)
    assert r.hours_at_contract == pytest.approx((172_800 - 600) / 3600)
    assert r.contract_pct == pytest.approx(172_200 / 172_800 * 100)
    assert r.availability_pct == pytest.approx(172_200 / 172_800 * 100)
    assert r.electrical_mwh == pytest.approx(3.2)
    assert r.electrical_source == "measured"
    assert r.electrical_coverage_pct == pytest.approx(100)
    assert r.efficiency_pct == pytest.approx(2880 / 3200 * 100)
    assert (r.nodes, r.nominal_kw) == (3, 80.0)
    assert r.utilisation_pct == pytest.approx(2880 / (80 * 48) * 100)
    assert r.co2_avoided_t == pytest.approx(2.88 * 227 / 1000)
    assert r.coverage_pct == pytest.approx(100)
    assert r.heat_previous_mwh == pytest.approx(287 * 8 / 1000)
    assert r.trend_pct == pytest.approx((2880 - 2296) / 2296 * 100)
    assert (r.latitude, r.longitude) == (45.76, 4.83)


def test_a_data_gap_lowers_coverage_but_not_the_register_energy(fleet):
    r = compare(fleet)["par-0002"]
    assert r.heat_mwh == pytest.approx(2.88)
    assert r.heat_power_mwh == pytest.approx(2.88 - 0.36)  # power is not integrated over gaps
    assert r.coverage_pct == pytest.approx(87.5)
    assert r.hours_at_contract == pytest.approx(42)
    assert r.contract_pct == pytest.approx(87.5)  # of the period: gaps are not proven
    assert r.availability_pct == pytest.approx(100)  # of the covered time
    assert (r.electrical_mwh, r.electrical_source) == (pytest.approx(1.0), "nominal")
    assert r.efficiency_pct == pytest.approx(288)
    assert r.trend_pct is None  # nothing delivered before: no trend


def test_a_meter_replacement_counts_each_meter_once_and_keeps_full_coverage(fleet):
    r = compare(fleet)["gre-0003"]
    assert r.heat_mwh == pytest.approx((730 + 2140) / 1000)
    assert r.coverage_pct == pytest.approx((172_800 - 600) / 172_800 * 100)
    assert r.electrical_mwh is None and r.efficiency_pct is None
    assert r.electrical_source is None


def test_a_site_without_data_has_no_figures_and_zero_coverage(fleet):
    r = compare(fleet)["hel-0004"]
    assert r.heat_mwh is None and r.supply_avg_c is None and r.trend_pct is None
    assert r.coverage_pct == 0.0
    assert r.nodes == 0
    assert r.partner == "Lämpö Nord"


@pytest.mark.parametrize("code", ["lyo-0001", "par-0002", "gre-0003"])
def test_figures_agree_with_the_heat_selectors_site_energy(fleet, code):
    site = Site.objects.get(code=code)
    heat = heat_selectors.site_energy(site.id, DAY1, END)
    r = compare(fleet)[code]
    assert r.heat_mwh == pytest.approx(heat.energy_kwh / 1000)
    assert r.coverage_pct == pytest.approx(heat.coverage * 100)
    assert r.hours_at_contract == pytest.approx(heat.hours_at_or_above)
    assert r.availability_pct == pytest.approx(heat.availability * 100)


def test_the_number_of_queries_does_not_grow_with_the_sites(fleet):
    with CaptureQueriesContext(connection) as one:
        selectors.compare_sites(sites=Site.objects.filter(code="lyo-0001"), period=PERIOD, now=NOW)
    with CaptureQueriesContext(connection) as all_sites:
        selectors.compare_sites(sites=Site.objects.all(), period=PERIOD, now=NOW)

    def selects(ctx):
        return [q for q in ctx.captured_queries if q["sql"].startswith("SELECT")]

    # the site with two meters adds one query, whatever the number of such sites
    assert len(selects(one)) == 6
    assert len(selects(all_sites)) == 7


def test_rows_are_restricted_to_the_given_sites(fleet):
    qs = Site.objects.filter(partner__name="Lämpö Nord")
    rows = selectors.compare_sites(sites=qs, period=PERIOD, now=NOW).rows
    assert [r.code for r in rows] == ["hel-0004"]


def test_a_period_reaching_the_future_is_clipped_at_now(fleet):
    now = datetime(2026, 3, 3, 11, 0, tzinfo=selectors.UTC)  # local noon of the second day
    rows = selectors.compare_sites(sites=Site.objects.filter(code="par-0002"), period=PERIOD,
                                   now=now).rows  # fmt: skip
    # 36 h of the period are past: utilisation is over those, not over 48 h
    assert rows[0].utilisation_pct == pytest.approx(2880 / (40 * 36) * 100)


def test_sorting_puts_missing_values_last_in_both_directions(fleet):
    rows = list(compare(fleet).values())
    up = [r.code for r in selectors.sort_rows(rows, "efficiency_pct", False)]
    down = [r.code for r in selectors.sort_rows(rows, "efficiency_pct", True)]
    assert up == ["lyo-0001", "par-0002", "gre-0003", "hel-0004"]
    assert down == ["par-0002", "lyo-0001", "gre-0003", "hel-0004"]
    with pytest.raises(CompareError, match="unknown sort column"):
        selectors.sort_rows(rows, "password", False)


def test_series_are_daily_with_gaps_as_none(fleet):
    steady, empty = fleet["steady"], fleet["empty"]
    s = selectors.compare_series(site_ids=[steady.id, empty.id], period=PERIOD, metric="heat_mwh")
    assert s[steady.id] == [(date(2026, 3, 2), pytest.approx(1.44)),
                            (date(2026, 3, 3), pytest.approx(1.44))]  # fmt: skip
    assert s[empty.id] == [(date(2026, 3, 2), None), (date(2026, 3, 3), None)]
    eff = selectors.compare_series(site_ids=[steady.id], period=PERIOD, metric="efficiency_pct")
    assert [v for _, v in eff[steady.id]] == [pytest.approx(1440 / 15), pytest.approx(1440 / 17)]
    with pytest.raises(CompareError, match="unknown series metric"):
        selectors.compare_series(site_ids=[steady.id], period=PERIOD, metric="nope")


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [
        (date(2026, 3, 4), date(2026, 3, 2), "must be after start"),
        (date(2026, 3, 2), date(2026, 3, 2), "must be after start"),
        (date(2000, 1, 1), date(2026, 3, 2), "limited to 3660 days"),
    ],
)
def test_reversed_empty_and_huge_periods_are_refused_with_the_reason(start, end, reason):
    with pytest.raises(CompareError, match=reason):
        Period(start, end)


def test_previous_period_and_month_and_last_days():
    assert PERIOD.previous == Period(date(2026, 2, 28), date(2026, 3, 2))
    assert selectors.month_period(2026, 12) == Period(date(2026, 12, 1), date(2027, 1, 1))
    assert selectors.last_days(7, NOW) == Period(date(2026, 3, 3), date(2026, 3, 10))
    with pytest.raises(CompareError, match="impossible month"):
        selectors.month_period(2026, 13)


def test_seed_history_creates_consistent_days_for_every_site(fleet):
    call_command("seed_history", days=3, end=date(2026, 5, 4), stdout=io.StringIO())
    period = Period(date(2026, 5, 1), date(2026, 5, 4))
    rows = {r.code: r for r in selectors.compare_sites(sites=Site.objects.all(), period=period,
                                                       now=NOW.replace(month=6)).rows}  # fmt: skip
    steady = rows["lyo-0001"]
    # electricity = heat / the site's efficiency, drawn between 78 % and 97 %
    assert 78 <= steady.efficiency_pct <= 97
    assert 0 < steady.coverage_pct <= 100 and steady.heat_mwh > 0
    assert rows["hel-0004"].heat_mwh is None  # no meter: no heat rollups
    assert DailyRollup.objects.filter(day__gte=period.start).values("day").distinct().count() <= 3
