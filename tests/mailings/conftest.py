"""Two partners with a site each, a month of readings, and contacts for the statement e-mail."""

from datetime import UTC, datetime, timedelta

import pytest

from apps.heat.ingest import ingest_readings
from apps.mailings.models import PartnerContact
from apps.sites.models import HeatMeter, Organisation, Site
from tests.heat.test_views import reading


def month_of_readings(meter: HeatMeter, year: int, month: int, *, start_kwh: float = 1000):
    """Readings every 10 minutes around the month's first hours and one at its end, so the
    month has a start and an end register (energy known) whatever its coverage."""
    t0 = datetime(year, month, 1, tzinfo=UTC) - timedelta(hours=2)
    rows = [
        reading(t0 + timedelta(minutes=10 * k), start_kwh + 10 * k, power=60) for k in range(13)
    ]
    ingest_readings({meter.id: rows})
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC) - timedelta(hours=3)
    ingest_readings({meter.id: [reading(end, start_kwh + 2000)]})


@pytest.fixture(autouse=True)
def _gap_limit(settings):
    settings.HEAT_MAX_GAP_S = 900


@pytest.fixture
def reseau(db):
    return Organisation.objects.create(name="Réseau Chaleur Urbaine", kind="partner")


@pytest.fixture
def nord(db):
    return Organisation.objects.create(name="Eau Chaude Nord", kind="partner")


@pytest.fixture
def reseau_site(reseau):
    return Site.objects.create(
        code="rcu-1", name="Piscine Jean Bouin", partner=reseau, contract_min_supply_c=65,
        timezone="Europe/Paris",
    )  # fmt: skip


@pytest.fixture
def nord_site(nord):
    return Site.objects.create(
        code="ecn-1", name="Lille Fives", partner=nord, contract_min_supply_c=60,
        timezone="Europe/Paris",
    )  # fmt: skip


@pytest.fixture
def march(reseau_site, nord_site):
    """March 2026 read at both partners' sites."""
    for n, site in enumerate((reseau_site, nord_site)):
        meter = HeatMeter.objects.create(site=site, serial=f"HM-{site.code}", host="127.0.0.1")
        month_of_readings(meter, 2026, 3, start_kwh=1000 * (n + 1))
    return reseau_site, nord_site


@pytest.fixture
def contacts(reseau, nord):
    return {
        "claire": PartnerContact.objects.create(
            organisation=reseau, name="Claire Martin", email="claire@rcu.example", language="fr"
        ),
        "tom": PartnerContact.objects.create(
            organisation=reseau, name="Tom Price", email="tom@rcu.example", language="en-gb"
        ),
        "off": PartnerContact.objects.create(
            organisation=reseau, name="Off", email="off@rcu.example", monthly_statement=False
        ),
        "nadia": PartnerContact.objects.create(
            organisation=nord, name="Nadia", email="nadia@ecn.example", language="fr"
        ),
    }
