"""Everything a partner can reach, rendered in French, has no English left in it.

The pages come from the route matrix (tests/routes/): every GET route a partner gets a 200 for,
so a new partner page is checked without being listed here. Then what is not a route: the
error pages, an API error, the alarm e-mail, the statement CSV and PDF in their French form.
The detector is tests/i18n/untranslated.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.urls import reverse

from apps.heat.ingest import ingest_readings
from apps.heat.models import HeatAlarm
from apps.heat.notifications import alarm_notify
from tests.factories import HeatMeterFactory
from tests.heat.test_views import reading
from tests.i18n.untranslated import english_in, lines_of, visible_texts
from tests.routes import load

ROUTES, _, EXTRA_OBJECTS = load()
PARTNER_PAGES = sorted(
    name
    for name, route in ROUTES.items()
    if route.method == "get" and route.expect.get("partner") == 200
)
pytestmark = pytest.mark.django_db
# English that is not ours to translate: django-allauth's WebAuthn form has an unlabelled
# field, so Django derives "Name" from the field name (no msgid anywhere).
UPSTREAM = {"mfa_add_webauthn": {"Name"}}


@pytest.fixture
def french_partner(partner):
    partner.language = "fr"
    partner.email = "exploitation@rcu.example"
    partner.first_name, partner.last_name = "Claire", "Martin"
    partner.save()
    return partner


@pytest.fixture
def objects(site, other_site, node, users):
    meter = HeatMeterFactory(site=site, serial="HM-FR-01")
    objects = {"site": site, "other_site": other_site, "node": node, "meter": meter}
    for extend in EXTRA_OBJECTS:
        objects.update(extend(objects))
    # A month of readings (statements, summary, chart) and a partner-visible alarm.
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    ingest_readings(
        {meter.id: [reading(t0 + timedelta(minutes=10 * k), 3450 + k, power=60) for k in range(12)]}
    )
    HeatAlarm.objects.create(
        site=site,
        kind=HeatAlarm.Kind.BELOW_CONTRACT,
        raised_at=t0,
        detail="Supply 55.0 °C below the contracted 60 °C for more than 15 min",
        partner_visible=True,
        context={"supply_c": 55.0, "contract_min_supply_c": 60.0},
    )
    return objects


@pytest.fixture
def allowed(objects, french_partner):
    """Data, not interface: names of things, the partner's own name, units and zones."""
    site, org = objects["site"], objects["site"].partner
    return {
        site.name, site.code, site.city, site.address, site.heat_network, org.name,
        objects["meter"].serial, french_partner.username, "Claire Martin", site.timezone,
        "Heatsite", "English", "Français", "CSV", "PDF", "kWh", "kWh_th", "MWh_th",
    }  # fmt: skip


def _check(texts, allowed, where):
    found = english_in(texts, allowed=allowed)
    assert not found, f"{where}: English left: {found[:10]}"


@pytest.mark.parametrize("name", PARTNER_PAGES)
def test_partner_route_in_french_has_no_english(client, french_partner, objects, allowed, name):
    client.force_login(french_partner)
    route = ROUTES[name]
    url = route.url(objects)
    data = route.data("partner", {"partner": french_partner}) if callable(route.data) else {}
    response = client.get(url, data)
    assert response.status_code == 200, (name, response.content[:300])
    kind = response.get("Content-Type", "")
    allowed = allowed | UPSTREAM.get(name, set())
    if kind.startswith("text/html") and name.startswith("api:"):
        return  # Swagger UI's own page (drf-spectacular's sidecar), not our interface
    if kind.startswith("text/html"):
        html = response.content.decode()
        assert 'lang="fr"' in html or "<html" not in html, name
        _check(visible_texts(html), allowed, name)
    elif kind.startswith("text/csv"):
        _check(lines_of(response.content.decode("utf-8-sig").replace(";", "\n")), allowed, name)
    elif kind.startswith("application/pdf"):
        _check(lines_of(_pdf_text(response.content)), allowed, name)
    elif kind.startswith("application/json") and not url.startswith("/api/"):
        # A page's JSON (the chart's figure): its trace names and axis titles.
        _check(_figure_texts(json.loads(response.content)), allowed, name)


def _figure_texts(figure):
    if not isinstance(figure, dict) or "data" not in figure:
        return []
    texts = [trace.get("name", "") for trace in figure["data"]]
    layout = figure.get("layout", {})
    for axis in ("yaxis", "yaxis2", "xaxis"):
        texts.append(((layout.get(axis) or {}).get("title") or {}).get("text", ""))
    texts += [a.get("text", "") for a in layout.get("annotations", [])]
    return [t for t in texts if t]


def _pdf_text(data: bytes) -> str:
    result = subprocess.run(
        [shutil.which("pdftotext") or "pdftotext", "-layout", "-", "-"],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return result.stdout.decode()


def test_error_pages_and_api_errors_in_french(client, french_partner, objects, allowed):
    client.force_login(french_partner)
    missing = client.get(reverse("site-detail", args=[objects["other_site"].pk]))
    assert missing.status_code == 404
    _check(visible_texts(missing.content.decode()), allowed, "404 page")
    bad_month = client.get(reverse("heat-statement", args=[objects["site"].pk, "2026-13"]))
    assert bad_month.status_code == 400
    _check(visible_texts(bad_month.content.decode()), allowed, "400 page")
    api = client.get(f"/api/v1/sites/{objects['site'].pk}/heat/", {"start": "yesterday"})
    assert api.status_code == 400
    _check([api.json()["detail"]], allowed, "API 400 detail")


def test_alarm_email_to_a_french_partner_is_in_french(french_partner, objects, allowed):
    alarm = HeatAlarm.objects.get(site=objects["site"])
    assert alarm_notify(alarm.id, "raised") >= 1
    [message] = [m for m in mail.outbox if m.to == [french_partner.email]]
    assert "Température de départ 55,0 °C" in message.body
    _check([message.subject, *lines_of(message.body)], allowed, "alarm e-mail")


def test_statement_csv_in_the_french_dialect(client, french_partner, objects):
    client.force_login(french_partner)
    month = datetime.now(UTC).strftime("%Y-%m")
    url = reverse("heat-statement-csv", args=[objects["site"].pk, month])
    body = client.get(url).content
    assert body.startswith("\ufeff".encode())
    header, first = body.decode("utf-8-sig").splitlines()[:2]
    assert header.startswith("Code du site;Site;Partenaire;")
    assert ";" in first and "," in first.split(";")[8]  # decimal comma in the start register
    english = client.get(url, {"dialect": "en"}).content.decode()
    assert english.startswith("site_code,site_name,partner,")
    assert client.get(url, {"dialect": "xx"}).status_code == 400
