"""Without covered time, hours at/above and below contract and availability are unknown.

Two readings further apart than the gap limit book the register's increase (energy is known)
but cover no time: nothing proves the supply was above or below the contract in between. The
site page, the statement (page, CSV, PDF, API), the hourly series and the planners'
comparison all say "unknown" (—, empty, n/a, null), never 0 h or 100 %.
"""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from apps.heat import figures, physics, selectors, statements
from apps.heat import views as heat_views
from apps.heat.ingest import ingest_readings
from apps.heat.meters import MeterReading
from apps.planning.selectors import Period, compare_sites
from apps.sites.models import Site

pytestmark = pytest.mark.django_db
GAP_S = 900
# Local 10 March 2026 in Paris (UTC+1): 10:00 and 10:20, twenty minutes apart: a gap.
FIRST = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
SECOND = FIRST + timedelta(minutes=20)


@pytest.fixture(autouse=True)
def gap_limit(settings):
    settings.HEAT_MAX_GAP_S = GAP_S


@pytest.fixture
def partner_org(site):
    return site.partner


def reading(ts, register, power=60.0):
    return MeterReading(supply_c=70.0, return_c=40.0, power_kw=power, energy_kwh=register,
                        flow_m3h=physics.flow_for_power_m3h(power, 70.0, 40.0),
                        read_at=ts)  # fmt: skip


@pytest.fixture
def uncovered(make_meter):
    """A meter read twice, further apart than the gap limit: 20 kWh booked, nothing covered."""
    meter = make_meter()
    ingest_readings({meter.id: [reading(FIRST, 1000.0), reading(SECOND, 1020.0)]})
    return meter


def test_a_period_without_covered_time_has_unknown_contract_hours(site, uncovered):
    period = selectors.site_energy(site.id, FIRST - timedelta(hours=1), SECOND + timedelta(hours=1))
    assert period.energy_kwh == pytest.approx(20.0)
    assert period.coverage == 0.0
    assert period.hours_at_or_above is None and period.hours_below is None
    assert period.availability is None


def test_covered_time_gives_known_hours_even_when_all_below_contract(site, make_meter):
    meter = make_meter()
    cold = [MeterReading(supply_c=50.0, return_c=30.0, power_kw=10.0, energy_kwh=1000.0 + i,
                         flow_m3h=physics.flow_for_power_m3h(10.0, 50.0, 30.0),
                         read_at=FIRST + timedelta(minutes=10 * i)) for i in range(4)]  # fmt: skip
    ingest_readings({meter.id: cold})
    period = selectors.site_energy(site.id, FIRST, FIRST + timedelta(hours=1))
    assert period.hours_at_or_above == 0.0  # a known zero: covered, and all of it below
    assert period.hours_below == pytest.approx(0.5)
    assert period.availability == 0.0


def test_site_page_summary_says_unknown_not_100_percent(rf, partner, site, uncovered):
    now = SECOND + timedelta(minutes=5)
    summary = selectors.site_heat_summary(site.id, now)
    today = summary["today"]
    assert today["coverage"] == 0.0 and today["energy_kwh"] == pytest.approx(20.0)
    assert today["availability"] is None
    assert today["hours_at_or_above"] is None and today["hours_below"] is None
    row = {r["key"]: r for r in figures.summary_rows(summary)}["today"]
    assert (row["hours_ok"], row["hours_below"], row["availability"]) == ("—", "—", "—")
    request = rf.get("/")
    request.user = partner
    context = {"site": site, **heat_views.site_heat_context(site, partner, now=now)}
    page = render_to_string("heat/_summary.html", context, request=request)
    today_row = page.split('data-period="today"', 1)[1].split("</tr>", 1)[0]
    for field in ("hours_ok", "hours_below", "availability"):
        assert f'data-field="{field}">—</td>' in today_row
    assert "100.0 %" not in today_row and "0.0 h" not in today_row


def test_statement_page_csv_pdf_and_api_leave_uncovered_hours_unknown(
    client, partner, site, uncovered
):
    statement = selectors.monthly_statement(site.id, 2026, 3)
    [line] = statement["lines"]
    assert line["energy_kwh"] == pytest.approx(20.0) and line["coverage"] == 0.0
    for figures_ in (line, statement):
        assert figures_["hours_at_or_above_contract"] is None
        assert figures_["hours_below_contract"] is None
    doc = statements.statement_document(statement, partner="p", generated_at=SECOND)
    for row in csv.DictReader(io.StringIO(statements.statement_csv(doc))):
        assert row["hours_at_or_above_contract"] == row["hours_below_contract"] == ""
    client.force_login(partner)
    body = client.get(
        reverse("api:site-heat-statement", args=[site.pk]), {"month": "2026-03"}
    ).json()
    assert body["hours_at_or_above_contract"] is None and body["hours_below_contract"] is None
    assert body["lines"][0]["hours_at_or_above_contract"] is None
    assert body["energy_kwh"] == pytest.approx(20.0)
    page = client.get(reverse("heat-statement", args=[site.pk, "2026-03"])).content.decode()
    total = page.split('data-testid="statement-total"', 1)[1].split("</tr>", 1)[0]
    assert total.count('<td class="text-end">—</td>') == 2
    assert "0.00</td>" not in page


def test_an_hourly_bucket_without_covered_time_has_no_hours_below(site, uncovered):
    points = selectors.site_series(site.id, FIRST, FIRST + timedelta(hours=1), "hour")
    [bucket] = points
    assert bucket["coverage"] == 0.0 and bucket["energy_kwh"] == pytest.approx(20.0)
    assert bucket["hours_below"] is None


def test_the_comparison_leaves_contract_hours_and_availability_unknown(site, uncovered):
    period = Period(date(2026, 3, 10), date(2026, 3, 11))
    now = datetime(2026, 3, 20, tzinfo=UTC)
    [row] = compare_sites(sites=Site.objects.filter(pk=site.pk), period=period, now=now).rows
    assert row.heat_mwh == pytest.approx(0.02)
    assert row.coverage_pct == 0.0
    assert row.hours_at_contract is None
    assert row.contract_pct is None
    assert row.availability_pct is None
