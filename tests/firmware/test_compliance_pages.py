"""The compliance page, its CSV, the API, and "make desired" on the bundle page."""

import csv
import io
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.firmware.models import DesiredBundle
from tests.factories import SiteFactory
from tests.firmware.compliance_kit import SKU, add_node, make_bundle, make_desired

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(site, other_site, engineer):
    bundle = make_desired(engineer)
    add_node(site, "lyo-behind", {"BMC": "2.42", "BIOS": "1.5.0"})
    add_node(site, "lyo-ok", {"BMC": "2.50", "BIOS": "1.5.0"})
    add_node(other_site, "lil-unread", None)
    return bundle


def test_the_page_shows_the_summary_the_table_and_local_read_times(client, engineer, fleet):
    client.force_login(engineer)
    response = client.get(reverse("firmware-compliance"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="compliance-summary"' in html
    assert "lyo-behind" in html and "Behind: BMC 2.42 &lt; 2.50." in html
    assert "No firmware read from the BMC yet." in html
    # 09:30 UTC read, shown in the site's time (Europe/Paris: 10:30 CET).
    assert "2026-12-03 10:30 CET" in html


def test_the_htmx_filter_returns_the_table_fragment_only(client, engineer, fleet):
    client.force_login(engineer)
    response = client.get(
        reverse("firmware-compliance"),
        {"status": "behind"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="compliance-table",
    )
    html = response.content.decode()
    assert "<html" not in html and 'data-testid="compliance-table"' in html
    assert "lyo-behind" in html and "lyo-ok" not in html and "lil-unread" not in html


def test_a_bad_status_is_a_400_with_the_reason(client, engineer, fleet):
    client.force_login(engineer)
    response = client.get(reverse("firmware-compliance"), {"status": "late"})
    assert response.status_code == 400
    assert "status: &#x27;late&#x27; is not one of" in response.content.decode()


def test_the_campaign_button_carries_the_filter_and_the_desired_bundle(
    client, engineer, fleet, site
):
    client.force_login(engineer)
    response = client.get(reverse("firmware-compliance"), {"sku": SKU, "site": site.code})
    href = response.context["campaign_href"]
    parsed = urlparse(href)
    assert parsed.path == reverse("firmware-campaign-new")
    params = parse_qs(parsed.query)
    assert params["sku"] == [SKU] and params["status"] == ["behind"]
    assert params["site"] == [site.code] and params["sites"] == [site.code]
    assert params["bundle"] == [str(fleet.pk)]
    assert href.replace("&", "&amp;") in response.content.decode()


def test_the_page_paginates(client, engineer, fleet):
    site = SiteFactory()
    for i in range(60):
        add_node(site, f"zz-{i:02d}", {"BMC": "2.50", "BIOS": "1.5.0"})
    client.force_login(engineer)
    first = client.get(reverse("firmware-compliance"))
    assert first.context["page"].paginator.count == 63
    assert len(first.context["page"].object_list) == 50
    second = client.get(reverse("firmware-compliance"), {"page": 2})
    assert [r.node for r in second.context["page"].object_list][-1] == "zz-59"


def test_the_csv_honours_the_filters(client, engineer, fleet):
    client.force_login(engineer)
    response = client.get(reverse("firmware-compliance-csv"), {"status": "behind"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert {r["node"] for r in rows} == {"lyo-behind"}
    by_component = {r["component"]: r for r in rows}
    assert by_component["BMC"]["current"] == "2.42"
    assert by_component["BMC"]["component_status"] == "behind"
    assert by_component["BIOS"]["component_status"] == "up_to_date"


def test_the_csv_defuses_spreadsheet_formulas_from_a_bmc(client, engineer, fleet, site):
    add_node(site, "lyo-evil", {"BMC": "=HYPERLINK(1)", "BIOS": "1.5.0"})
    client.force_login(engineer)
    response = client.get(reverse("firmware-compliance-csv"), {"version": "=HYPERLINK(1)"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows and all(not r["current"].startswith("=") for r in rows)
    assert rows[0]["current"] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(("role", "status"), [("partner", 404), ("planner", 403)])
def test_the_page_and_csv_are_refused_to_partners_and_planners(client, users, role, status):
    client.force_login(users[role])
    assert client.get(reverse("firmware-compliance")).status_code == status
    assert client.get(reverse("firmware-compliance-csv")).status_code == status


def test_the_navigation_offers_compliance_to_engineers_only(client, users):
    for role, shown in (
        ("engineer", True),
        ("admin", True),
        ("planner", False),
        ("partner", False),
    ):
        client.force_login(users[role])
        html = client.get(reverse("fleet")).content.decode()
        assert (reverse("firmware-compliance") in html) is shown, role


# --- API ------------------------------------------------------------------------------------


def test_the_api_lists_nodes_with_their_status_filtered_and_paginated(client, engineer, fleet):
    client.force_login(engineer)
    url = reverse("api:firmware-compliance")
    body = client.get(url, {"limit": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert [r["node"] for r in body["results"]] == ["lil-unread", "lyo-behind"]
    behind = client.get(url, {"status": "behind"}).json()["results"]
    assert len(behind) == 1
    row = behind[0]
    assert (row["node"], row["sku"], row["status"], row["mixed"]) == (
        "lyo-behind",
        SKU,
        "behind",
        False,
    )
    assert row["desired_bundle"] == fleet.pk and row["desired_version"] == "1.5.0"
    assert {"component": "BMC", "current": "2.42", "desired": "2.50", "status": "behind"} in row[
        "components"
    ]
    unknown = client.get(url, {"status": "unknown"}).json()["results"][0]
    assert unknown["reason"] == "No firmware read from the BMC yet." and unknown["read_at"] is None


def test_the_api_refuses_bad_filters_with_a_detail(client, engineer, fleet):
    client.force_login(engineer)
    response = client.get(reverse("api:firmware-compliance"), {"status": "late"})
    assert response.status_code == 400 and "status" in response.json()["detail"]
    response = client.get(reverse("api:firmware-compliance"), {"limit": "x"})
    assert response.status_code == 400 and "limit" in response.json()["detail"]


@pytest.mark.parametrize(("role", "status"), [("partner", 404), ("planner", 403)])
def test_the_api_is_refused_to_partners_and_planners(client, users, role, status):
    client.force_login(users[role])
    response = client.get(reverse("api:firmware-compliance"))
    assert response.status_code == status and response.json()["detail"]


def test_the_api_makes_a_bundle_desired_and_audits_it(client, engineer, fleet):
    newer = make_bundle("1.6.0", {"BMC": "2.60", "BIOS": "1.6.0"})
    client.force_login(engineer)
    response = client.post(reverse("api:firmware-bundle-desired", args=[newer.pk]))
    assert response.status_code == 200
    assert response.json()["bundle"] == newer.pk and response.json()["sku"] == SKU
    assert DesiredBundle.objects.get().bundle == newer
    assert AuditEvent.objects.filter(
        action="firmware.desired_bundle_set", target_id=str(newer.pk), actor=engineer
    ).exists()
    # Every node is now behind on both components.
    statuses = {
        r["node"]: r["status"]
        for r in client.get(reverse("api:firmware-compliance")).json()["results"]
    }
    assert statuses == {"lyo-behind": "behind", "lyo-ok": "behind", "lil-unread": "unknown"}


def test_the_api_answers_404_for_a_missing_bundle(client, engineer):
    client.force_login(engineer)
    response = client.post(reverse("api:firmware-bundle-desired", args=[999999]))
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="firmware.desired_bundle_set").exists()


# --- the bundle page ------------------------------------------------------------------------


def test_make_desired_from_the_bundle_page(client, engineer):
    bundle = make_bundle("1.5.0", {"BMC": "2.50"})
    client.force_login(engineer)
    page = client.get(reverse("firmware-bundle", args=[bundle.pk])).content.decode()
    assert 'data-testid="make-desired"' in page and 'data-testid="desired-badge"' not in page
    response = client.post(reverse("firmware-bundle-desired", args=[bundle.pk]))
    assert response.status_code == 302
    assert DesiredBundle.objects.get().bundle == bundle
    event = AuditEvent.objects.get(action="firmware.desired_bundle_set")
    assert event.actor == engineer and event.detail["previous_bundle_id"] is None
    page = client.get(reverse("firmware-bundle", args=[bundle.pk])).content.decode()
    assert 'data-testid="desired-badge"' in page and 'data-testid="make-desired"' not in page


def test_a_planner_cannot_make_a_bundle_desired_from_the_page(client, planner):
    bundle = make_bundle("1.5.0", {"BMC": "2.50"})
    client.force_login(planner)
    assert client.post(reverse("firmware-bundle-desired", args=[bundle.pk])).status_code == 403
    assert not DesiredBundle.objects.exists()
