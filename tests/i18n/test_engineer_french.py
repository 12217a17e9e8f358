"""The engineers' pages, rendered in French, have no English left in them.

The partner walker (test_partner_french.py) covers what partners reach; this covers the
engineer-only surfaces translated since: the node page with every panel filled (sensors,
inventory, firmware, BIOS with a pending change, BMC log with an intrusion, a changed BMC
certificate, a failed poll), the hardware fragments and modals, and the power batch progress.
Then every GET route an engineer (and an admin, for the admin-only pages) reaches in the route
matrix; tests/i18n/test_engineer_states_french.py renders the states the matrix's objects lack
(campaigns planned, running, halted; gateways online, offline, revoked).
The detector is tests/i18n/untranslated.py; data (names, serials, BMC words) is allowed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from apps.hardware.models import BmcFacts, PowerAction, PowerBatch
from apps.sites.models import Node
from tests.factories import HeatMeterFactory, NodeFactory
from tests.i18n.untranslated import english_in, visible_texts
from tests.routes import load

pytestmark = pytest.mark.django_db

READ_AT = datetime(2026, 11, 3, 13, 5, tzinfo=UTC)


@pytest.fixture
def french_engineer(engineer):
    engineer.language = "fr"
    engineer.save()
    return engineer


@pytest.fixture
def rich_node(site):
    node = NodeFactory(site=site, name="calc-07", bmc_protocol="auto", serial="SN-FR-7")
    Node.objects.filter(pk=node.pk).update(
        bmc_tls_fingerprint="ab" * 32,
        bmc_cert_fingerprint="cd" * 32,
        bmc_rotation_state="failed",
        bmc_rotation_error="BMC: 401",
        bmc_rotation_started_at=READ_AT,
    )
    BmcFacts.objects.create(
        node=node,
        features={"firmware": True, "bios": True, "bmc_log": True, "dcmi": False},
        sensors=[
            {"name": "CPU1 Temp", "value": 61.5, "unit": "°C", "health": "ok"},
            {"name": "Inlet Water", "value": 38.25, "unit": "°C", "health": "warning"},
            {"name": "PSU2", "value": None, "unit": "W", "health": "critical"},
        ],
        inventory={"manufacturer": "Heatsite Lab", "product": "HS-CP2", "part_number": "PN-42",
                   "board_serial": "BS-7", "chassis_serial": "CS-9", "uuid": "4c4c-0042"},
        firmware=[{"component": "BMC", "version": "2.14", "id": "BMC", "updateable": True,
                   "related": [], "read_at": READ_AT.isoformat()}],
        boot_device={"device": "disk", "persistent": False, "uefi": True},
        bios={
            "read_at": READ_AT.isoformat(),
            "registry": "BiosAttributeRegistry.1.0",
            "attributes": [
                {"name": "BootMode", "display_name": "BootMode", "type": "Enumeration",
                 "value": "Uefi", "allowed": ["Uefi", "Legacy"], "read_only": False},
                {"name": "AdminPassword", "type": "Password", "value": None, "read_only": False},
                {"name": "SerialNumber", "type": "String", "value": "SN-FR-7", "read_only": True},
            ],
            "pending": {"BootMode": "Legacy"},
        },
        bmc_log={
            "read_at": READ_AT.isoformat(),
            "entries": [
                {"created": READ_AT.isoformat(), "severity": "critical", "message": "Chassis open",
                 "sensor_type": "Physical Security", "intrusion": True},
                {"created": (READ_AT - timedelta(hours=1)).isoformat(), "severity": "ok",
                 "message": "PSU2 OK", "sensor_type": "Power Supply", "intrusion": False},
            ],
        },
        last_error="BMC timeout",
        backoff_until=READ_AT,
    )  # fmt: skip
    return node


@pytest.fixture
def allowed(site, rich_node):
    return {
        site.name, site.code, site.city, site.timezone, rich_node.name, rich_node.serial,
        rich_node.model, rich_node.rack_position, "Heatsite", "Heatsite Lab", "HS-CP2", "PN-42",
        "BS-7", "CS-9", "UUID", "CPU1 Temp", "Inlet Water", "PSU2", "PSU2 OK", "Chassis open",
        "Physical Security", "Power Supply", "BMC timeout", "BootMode", "AdminPassword",
        "SerialNumber", "BiosAttributeRegistry.1.0", "Uefi", "Legacy", "BMC: 401", "BMC",
        "BIOS", "Redfish", "IPMI", "UEFI", "FRU", "DCMI", "SHA-256", "English", "Français",
    }  # fmt: skip


def _french_page(client, url, allowed, **headers):
    response = client.get(url, **headers)
    assert response.status_code == 200, (url, response.content[:300])
    html = response.content.decode()
    found = english_in(visible_texts(html), allowed=allowed)
    assert not found, f"{url}: English left: {found[:10]}"
    return html


def test_node_page_in_french_has_no_english(client, french_engineer, rich_node, allowed):
    client.force_login(french_engineer)
    html = _french_page(client, reverse("node-detail", args=[rich_node.pk]), allowed)
    assert 'lang="fr"' in html
    for french in (
        "Capteurs",
        "Journal du BMC",
        "Réglages BIOS",
        "Le certificat BMC a changé",
        "Lire l’inventaire",
        "1 intrusion dans le châssis",
        "61,5 °C",
        "03/11/2026",
    ):
        assert french in html, french  # fmt: skip


@pytest.mark.parametrize(
    ("name", "query", "htmx"),
    [
        ("node-power-confirm", "?action=off", True),
        ("node-power-confirm", "?action=on", True),
        ("node-bios-edit", "", True),
        ("node-bios-edit", "", False),
        ("node-bmc-password", "", True),
        ("node-bmc-password-confirm", "", True),
        ("node-actions", "", True),
        ("node-console", "", False),
        ("node-console-logs", "", False),
    ],
)
def test_node_fragments_in_french_have_no_english(
    client, french_engineer, rich_node, allowed, name, query, htmx
):
    PowerAction.objects.create(node=rich_node, kind="off", status="failed", error="BMC timeout")
    client.force_login(french_engineer)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    url = reverse(name, args=[rich_node.pk]) + query
    _french_page(client, url, allowed, **headers)


def test_bios_review_and_batch_progress_in_french(client, french_engineer, rich_node, allowed):
    client.force_login(french_engineer)
    review = client.post(
        reverse("node-bios-diff", args=[rich_node.pk]),
        {"attr:BootMode": "Uefi"},
        HTTP_HX_REQUEST="true",
    )
    assert review.status_code == 200, review.content[:300]
    found = english_in(visible_texts(review.content.decode()), allowed=allowed)
    assert not found, found[:10]
    batch = PowerBatch.objects.create(site=rich_node.site, action="soft")
    PowerAction.objects.create(node=rich_node, kind="soft", batch=batch)
    _french_page(client, reverse("power-batch", args=[batch.pk]), allowed)


def test_console_page_of_a_redfish_only_node_in_french(client, french_engineer, site, allowed):
    node = NodeFactory(site=site, name="calc-08", bmc_protocol="redfish")
    client.force_login(french_engineer)
    html = _french_page(client, reverse("node-console", args=[node.pk]), allowed | {"calc-08"})
    assert "Le BMC de ce nœud n’est joint que par Redfish" in html


# Every GET route of the route matrix that answers an engineer 200 (and, for the admin-only
# console pages, an admin), with HTML: no English. Django's own admin pages come from Django's
# catalogue; only our customisations of it are checked (model and field names are allowed).
ROUTES, _, EXTRA_OBJECTS = load()
# Django's own pages (its admin's catalogue) and machine answers (JSON, CSV, PDF, metrics)
# are not ours to translate here: the walker keeps the HTML answers.
NOT_OURS = ("api:",)


def _reached(role: str) -> list[str]:
    return sorted(
        name
        for name, route in ROUTES.items()
        if route.method == "get" and route.expect.get(role) == 200 and not name.startswith(NOT_OURS)
    )


ENGINEER_PAGES = _reached("engineer")
ADMIN_ONLY_PAGES = sorted(set(_reached("admin")) - set(ENGINEER_PAGES))


@pytest.fixture
def objects(site, other_site, node, users):
    objects = {
        "site": site,
        "other_site": other_site,
        "node": node,
        "meter": HeatMeterFactory(site=site),
    }
    for extend in EXTRA_OBJECTS:
        objects.update(extend(objects))
    return objects


def _allowed(objects) -> set[str]:
    node, site, other = objects["node"], objects["site"], objects["other_site"]
    return {
        site.name, site.code, site.city, site.timezone, site.partner.name, other.name,
        other.code, node.name, node.serial, node.model, "Heatsite", "BMC", "BIOS", "Redfish",
        "IPMI", "English", "Français", "API", "CSV", "PDF", "SKU", "TPM", "PCR", "UTC",
    }  # fmt: skip


def _french(user):
    user.language = "fr"
    user.save()
    return user


def _check(client, url, allowed, data=None, **headers):
    response = client.get(url, data or {}, **headers)
    assert response.status_code == 200, (url, response.content[:300])
    if "text/html" not in response.get("Content-Type", ""):
        return ""
    html = response.content.decode()
    found = english_in(visible_texts(html), allowed=allowed)
    assert not found, f"{url}: English left: {found[:10]}"
    return html


def _route_in_french(client, user, objects, name):
    client.force_login(_french(user))
    route = ROUTES[name]
    data = route.data(user.role, {user.role: user}) if callable(route.data) else route.data
    _check(client, route.url(objects), _allowed(objects), data)


@pytest.mark.parametrize("name", ENGINEER_PAGES)
def test_engineer_page_in_french_has_no_english(client, engineer, objects, name):
    _route_in_french(client, engineer, objects, name)


def _model_names() -> set[str]:
    """Our models' and fields' names: Django's admin shows them as the data model names them
    (not translated: giving every model and field a translated verbose name is a migration per
    app, decision 27); the admin's own words come from Django's catalogue."""
    from django.apps import apps
    from django.utils.text import capfirst

    names = set()
    for model in apps.get_models():
        if not model.__module__.startswith("apps."):
            continue
        meta = model._meta
        texts = [meta.verbose_name, meta.verbose_name_plural]
        texts += [getattr(f, "verbose_name", "") for f in meta.get_fields()]
        names |= {t for text in texts if text for t in (str(text), capfirst(str(text)))}
    return names


@pytest.mark.parametrize("name", ADMIN_ONLY_PAGES)
def test_admin_only_page_in_french_has_no_english(client, admin_user, objects, name):
    client.force_login(_french(admin_user))
    route = ROUTES[name]
    # Django's admin writes a null boolean's icon as alt="None" (its own, untranslated)
    admin = _model_names() | {"None", "True", "False"} if name.startswith("admin") else set()
    allowed = _allowed(objects) | admin
    _check(client, route.url(objects), allowed)


def test_planners_compare_page_chart_and_csv_in_french(client, planner, site, other_site):
    planner.language = "fr"
    planner.save()
    client.force_login(planner)
    allowed = {s for x in (site, other_site) for s in (x.name, x.code, x.partner.name)} | {
        "CSV", "API", "Heatsite", "English", "Français", "MWh_th", "MWh_e", "kW_th",
    }  # fmt: skip
    period = {"start": "2026-11-01", "end": "2026-12-01"}
    html = _french_page(client, reverse("compare") + "?start=2026-11-01&end=2026-12-01", allowed)
    assert "Comparer les sites" in html and "Chaleur livrée (MWh_th)" in html
    chart = client.get(reverse("compare-chart"), period | {"chart": "scatter"}).json()
    assert chart["layout"]["yaxis"]["title"]["text"] == "Rendement de récupération de chaleur (%)"
    body = client.get(reverse("compare-csv"), period).content
    assert body.startswith("\ufeff".encode())
    header = body.decode("utf-8-sig").splitlines()[0]
    assert header.startswith("Début de période;Fin de période (exclue);ID;Code du site;")
    english = client.get(reverse("compare-csv"), period | {"dialect": "en"}).content.decode()
    assert english.startswith("period_start,period_end_exclusive,id,code,")
    assert client.get(reverse("compare-csv"), period | {"dialect": "xx"}).status_code == 400
    backwards = client.get(reverse("compare"), {"start": "2026-12-01", "end": "2026-11-01"})
    assert backwards.status_code == 400
    assert "la fin (2026-11-01) doit être postérieure au début" in backwards.content.decode()
    chart = client.get(reverse("compare-chart"), period | {"chart": "pie"})
    assert chart.status_code == 400 and "graphique inconnu" in chart.content.decode()
