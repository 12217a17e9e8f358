"""A planner compares sites in a real browser: sorts the table, opens charts, opens a site.

Three sites with a month of daily history made by ``seed_history`` (the real command), served
by the live server with its static files, so the map's topojson comes from our own static path
(no internet in tests, as on an offline site).
"""

import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.sites.models import HeatMeter
from tests.e2e.login import log_in as log_in_as
from tests.factories import NodeFactory, OrganisationFactory, SiteFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROWS = "[data-testid=compare-table] tbody tr"


@pytest.fixture
def fleet():
    org = OrganisationFactory(name="Chaleur Alpine")
    places = [
        ("alp-001", 45.19, 5.72, 30),
        ("alp-002", 45.76, 4.83, 60),
        ("alp-003", 48.85, 2.35, 45),
    ]
    sites = []
    for code, lat, lon, kw in places:
        site = SiteFactory(
            partner=org, code=code, latitude=lat, longitude=lon, nominal_capacity_kw=kw
        )
        NodeFactory(site=site, name=f"{code}-n1")
        HeatMeter.objects.create(site=site, serial=f"HM-{code}", host="127.0.0.1")
        sites.append(site)
    call_command("seed_history", days=30, end=timezone.localdate(), stdout=io.StringIO())
    UserFactory(username="planner", role=Role.PLANNER)
    return sites


def log_in(page: Page, base_url: str) -> None:
    log_in_as(page, base_url, "planner")


def column_values(page: Page, index: int) -> list[float]:
    cells = page.locator(f"{ROWS} td:nth-child({index})").all_inner_texts()
    return [float(c.replace(",", "")) for c in cells]


def test_planner_sorts_the_table_and_opens_the_charts(fleet, live_server, page):
    log_in(page, live_server.url)
    page.get_by_role("link", name="Compare").click()
    expect(page).to_have_url(re.compile(r"/compare/$"))
    expect(page.locator(ROWS)).to_have_count(3)
    # the default order: heat delivered, largest first (column 2: tick, site, heat)
    heat = column_values(page, 3)
    assert heat == sorted(heat, reverse=True)

    page.locator("a[data-sort=heat_mwh]").click()
    expect(page).to_have_url(re.compile(r"sort=heat_mwh&dir=asc"))
    assert column_values(page, 3) == sorted(heat)

    page.locator("a[data-sort=nominal_kw]").click()
    expect(page.locator("th[aria-sort=descending] a")).to_have_attribute("data-sort", "nominal_kw")
    codes = page.get_by_test_id("site-link").all_inner_texts()
    assert codes == ["alp-002", "alp-003", "alp-001"]

    chart = page.get_by_test_id("compare-chart")
    expect(chart.locator(".plot-container")).to_be_visible()  # the initial bar chart
    page.get_by_test_id("chart-kind").select_option("scatter")
    expect(chart).to_have_attribute("data-ready", "scatter")
    expect(chart.locator(".scatterlayer .point")).to_have_count(3)

    page.get_by_test_id("chart-kind").select_option("map")
    expect(chart).to_have_attribute("data-ready", "map")
    expect(chart.locator(".geolayer .land path, .layer.land path").first).to_be_attached()
    expect(chart.locator(".scattergeo .point")).to_have_count(3)
    expect(chart.locator(".modebar-btn[data-title='Download plot as SVG']")).to_be_attached()

    page.get_by_test_id("site-link").first.click()
    expect(page).to_have_url(re.compile(rf"/sites/{fleet[1].pk}/$"))
