"""A French partner walks the portal in a real browser: French words, French formats.

The browser asks for French (Accept-Language fr-FR; the partner chose no language): numbers
are grouped with a space and written with a decimal comma (``3 450,5``), dates day first
(``01/11/2026``), and the heat chart's time axis over a year is labelled with French month
names. Then the partner switches to English from the user menu and the page follows.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect

from apps.accounts.models import Role, User
from apps.heat.ingest import ingest_readings
from apps.heat.models import MeterState
from tests.e2e.conftest import TIMEOUT_MS, watch_csp
from tests.factories import (
    PASSWORD,
    HeatMeterFactory,
    OrganisationFactory,
    SiteFactory,
    UserFactory,
)
from tests.heat.test_views import reading

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FRENCH_MONTHS = re.compile(r"\b(Jan|Fév|Mar|Avr|Mai|Jun|Jul|Aoû|Sep|Oct|Nov|Déc)\b")
ENGLISH_ONLY_MONTHS = re.compile(r"\b(Feb|Apr|May|Aug|Dec)\b")


def _spaces(text: str) -> str:
    # Django writes a no-break space, the browser's Intl a narrow one: both are "a space".
    return re.sub(r"[\u00a0\u202f ]+", " ", text)


@pytest.fixture
def french_partner_site(settings):
    # The live figures stay "live" for the length of the test on a busy machine.
    settings.HEAT_MAX_GAP_S = 3600
    org = OrganisationFactory(name="Réseau Chaleur Urbaine")
    site = SiteFactory(partner=org, code="lyo-fr", name="Piscine Lyon", nominal_capacity_kw=3450)
    meter = HeatMeterFactory(site=site, serial="HM-FR-1")
    now = datetime.now(UTC).replace(microsecond=0)
    first = (now.replace(day=1) - timedelta(days=1)).replace(day=1, hour=12, minute=0, second=0)
    ingest_readings(
        {meter.id: [reading(first, 1000.0), reading(first + timedelta(days=9), 4450.5)]}
    )
    ingest_readings({meter.id: [reading(now - timedelta(minutes=1), 4460.0, power=3450.5)]})
    # What the poller records with a good reading (ingest stores the reading only).
    MeterState.objects.update_or_create(
        meter=meter,
        defaults={"status": MeterState.Status.OK, "last_ts": now - timedelta(minutes=1),
                  "last_ok_at": now - timedelta(minutes=1), "last_power_kw": 3450.5,
                  "last_supply_c": 70.0, "last_return_c": 40.0, "last_flow_m3h": 98.0},
    )  # fmt: skip
    UserFactory(username="claire", role=Role.PARTNER, organisation=org)
    return site, first


def test_french_partner_reads_french_numbers_dates_and_chart_months(
    french_partner_site, live_server, browser: Browser
):
    site, month_start = french_partner_site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    context.set_default_timeout(TIMEOUT_MS)
    csp_violations = watch_csp(context)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        page.locator("input[name=login], input[name=username]").first.fill("claire")
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").first.click()

        # Fleet: the live total and the capacity, grouped and with a decimal comma.
        expect(page.get_by_role("heading", name=re.compile("vos sites"))).to_be_visible()
        expect(page.get_by_test_id("fleet-total")).to_have_text(re.compile(r"3\s450,5\s+kW"))
        row = page.locator(f'tr[data-site-id="{site.pk}"]')
        assert "3 450 kW" in _spaces(row.inner_text())

        # Site: the current output, then a year of chart with French month names.
        page.goto(f"{live_server.url}/sites/{site.pk}/")
        expect(page.locator('[data-live="power_kw"]')).to_have_text(re.compile(r"3\s450,5"))
        expect(page.get_by_text("Chaleur livrée", exact=True)).to_be_visible()
        page.locator('[data-window="year"]').click()
        expect(page.locator("#heat-chart")).to_have_attribute("data-window", "year")
        ticks = page.locator("#heat-chart .xtick text")
        expect(ticks.first).to_be_visible()
        labels = " ".join(ticks.all_text_contents())
        assert FRENCH_MONTHS.search(labels) and not ENGLISH_ONLY_MONTHS.search(labels), labels
        titles = page.locator("#heat-chart .g-ytitle, #heat-chart .g-y2title").all_text_contents()
        assert "Puissance thermique (kW)" in titles and "Température (°C)" in titles

        # Statement of last month: dates day first, energy with a decimal comma.
        month = month_start.strftime("%Y-%m")
        page.goto(f"{live_server.url}/sites/{site.pk}/heat/statements/{month}/")
        header = _spaces(page.get_by_test_id("statement-header").inner_text())
        assert f"du {month_start:%d/%m/%Y} 00:00 au" in header, header
        total = _spaces(page.get_by_test_id("statement-total").inner_text())
        assert "3 450,500" in total, total

        # The user menu's switch: English from now on, stored on the user.
        page.get_by_test_id("user-menu").locator("a.dropdown-toggle").click()
        page.get_by_test_id("language-switch").locator('button[value="en-gb"]').click()
        expect(
            page.get_by_role("heading", name=re.compile("Heat-delivery statement"))
        ).to_be_visible()
        assert "3,450.500" in page.get_by_test_id("statement-total").inner_text()
        assert User.objects.get(username="claire").language == "en-gb"
        assert not csp_violations, csp_violations
    finally:
        context.close()
