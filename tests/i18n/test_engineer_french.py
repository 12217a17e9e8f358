"""The engineers' pages, rendered in French, have no English left in them.

The partner walker (test_partner_french.py) covers what partners reach; this covers the
engineer-only surfaces translated since: the node page with every panel filled (sensors,
inventory, firmware, BIOS with a pending change, BMC log with an intrusion, a changed BMC
certificate, a failed poll), the hardware fragments and modals, and the power batch progress.
The detector is tests/i18n/untranslated.py; data (names, serials, BMC words) is allowed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from apps.hardware.models import BmcFacts, PowerAction, PowerBatch
from apps.sites.models import Node
from tests.factories import NodeFactory
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


# The route matrix's engineer pages of the areas translated for engineers (the others are
# partner surfaces, checked by the partner walker, or not yet translated: a campaign's page
# and the new-campaign form).
ROUTES, _, EXTRA_OBJECTS = load()
SCOPE = (
    "node-",
    "attestation-",
    "firmware-release",
    "firmware-bundle",
    "firmware-campaigns",
    "firmware-compliance",
    "power-batch",
    "site-power-confirm",
)
ENGINEER_PAGES = sorted(
    name
    for name, route in ROUTES.items()
    if route.method == "get"
    and route.expect.get("engineer") == 200
    and name.startswith(SCOPE)
    and name != "firmware-compliance-csv"
)


@pytest.fixture
def objects(site, other_site, node, users):
    objects = {"site": site, "other_site": other_site, "node": node}
    for extend in EXTRA_OBJECTS:
        objects.update(extend(objects))
    return objects


@pytest.mark.parametrize("name", ENGINEER_PAGES)
def test_engineer_route_in_french_has_no_english(client, french_engineer, objects, name):
    client.force_login(french_engineer)
    route = ROUTES[name]
    data = route.data("engineer", {"engineer": french_engineer}) if callable(route.data) else {}
    response = client.get(route.url(objects), data)
    assert response.status_code == 200, (name, response.content[:300])
    node, site = objects["node"], objects["site"]
    allowed = {
        site.name, site.code, site.city, site.timezone, node.name, node.serial, node.model,
        "Heatsite", "BMC", "BIOS", "Redfish", "IPMI", "English", "Français",
    }  # fmt: skip
    found = english_in(visible_texts(response.content.decode()), allowed=allowed)
    assert not found, f"{name}: English left: {found[:10]}"


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
