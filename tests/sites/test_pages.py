"""Fleet overview, site and node pages: what each role sees, search, sort, pagination."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from apps.hardware.models import BmcFacts
from tests.factories import HeatMeterFactory, NodeFactory, SiteFactory


def _codes(response):
    return re.findall(r'class="fw-semibold">([^<]+)</a>', response.content.decode())


def test_partner_fleet_lists_only_their_organisations_sites(client, partner, site, other_site):
    client.force_login(partner)
    response = client.get(reverse("fleet"))
    assert _codes(response) == [site.code]
    assert other_site.code not in response.content.decode()


def test_partner_site_page_shows_heat_but_no_hardware(client, partner, site, node):
    HeatMeterFactory(site=site, serial="HM-SECRET-1")
    client.force_login(partner)
    body = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert 'data-testid="heat-summary"' in body
    for secret in (node.name, node.serial, "HM-SECRET-1", site.address, "127.0.0.1"):
        assert secret not in body


def test_engineer_site_page_lists_nodes_and_meters(client, engineer, site, node):
    HeatMeterFactory(site=site, serial="HM-VISIBLE-1")
    client.force_login(engineer)
    body = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert node.name in body and "HM-VISIBLE-1" in body


def test_planner_site_page_has_no_hardware(client, planner, site, node):
    client.force_login(planner)
    body = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert node.name not in body


def test_node_page_shows_bmc_endpoint_but_never_the_password(client, engineer, site):
    node = NodeFactory(site=site, bmc_password="hunter2-very-secret")
    client.force_login(engineer)
    body = client.get(reverse("node-detail", args=[node.pk])).content.decode()
    assert node.bmc_host in body and "set (encrypted)" in body
    assert "hunter2" not in body and node.bmc_password_encrypted not in body


def test_fleet_search_matches_code_name_and_town(client, engineer, partner_org):
    SiteFactory(partner=partner_org, code="gre-1", city="Grenoble")
    SiteFactory(partner=partner_org, code="lyo-1", city="Lyon")
    client.force_login(engineer)
    assert _codes(client.get(reverse("fleet"), {"q": "greno"})) == ["gre-1"]


def test_fleet_sorts_both_ways(client, engineer, partner_org):
    for code in ("b-site", "a-site", "c-site"):
        SiteFactory(partner=partner_org, code=code)
    client.force_login(engineer)
    assert _codes(client.get(reverse("fleet"), {"sort": "code"})) == ["a-site", "b-site", "c-site"]
    assert _codes(client.get(reverse("fleet"), {"sort": "-code"})) == ["c-site", "b-site", "a-site"]


def test_fleet_ignores_an_unknown_sort_key(client, engineer, site):
    client.force_login(engineer)
    response = client.get(reverse("fleet"), {"sort": "password", "page": "x"})
    assert response.status_code == 200 and _codes(response) == [site.code]


def test_fleet_paginates(client, engineer, partner_org):
    SiteFactory.create_batch(30, partner=partner_org)
    client.force_login(engineer)
    assert len(_codes(client.get(reverse("fleet")))) == 25
    second = client.get(reverse("fleet"), {"page": 2})
    assert len(_codes(second)) == 5
    assert "26–30 of 30 sites" in second.content.decode()


def test_htmx_search_returns_only_the_table_fragment(client, engineer, site):
    client.force_login(engineer)
    response = client.get(
        reverse("fleet"), {"q": site.code}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="fleet-table"
    )
    body = response.content.decode()
    assert site.code in body and "<html" not in body and 'data-testid="fleet-table"' in body


def test_fleet_empty_search_shows_a_designed_empty_state(client, engineer, site):
    client.force_login(engineer)
    body = client.get(reverse("fleet"), {"q": "zzz-nothing"}).content.decode()
    assert "No site matches this search." in body


def test_fleet_counts_nodes_on_and_unreachable_for_engineers(client, engineer, site):
    NodeFactory(site=site, power_state="on", reachable=True)
    NodeFactory(site=site, power_state="off", reachable=False)
    client.force_login(engineer)
    body = client.get(reverse("fleet")).content.decode()
    assert "1 / 2" in body


def test_fleet_page_query_count_does_not_grow_with_the_fleet(
    client, engineer, partner_org, django_assert_max_num_queries
):
    for _ in range(40):
        NodeFactory(site=SiteFactory(partner=partner_org))
    client.force_login(engineer)
    client.get(reverse("fleet"))
    # session, user, the session's activity record (allauth usersessions: savepoint, read,
    # user, update, release), count, page, node counts, status counts, live kW of the page's
    # sites, live fleet total (one SUM), alarms, nodes whose BMC certificate changed, the
    # page's sites in a campaign wave (maintenance notices), the page's sites' gateways, plus
    # one spare: none grows with the fleet.
    with django_assert_max_num_queries(18):
        client.get(reverse("fleet"))


def test_site_page_shows_local_time_of_the_site(client, engineer, partner_org, settings):
    settings.TIME_ZONE = "UTC"
    site = SiteFactory(partner=partner_org, timezone="Asia/Tokyo")
    client.force_login(engineer)
    body = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert "Asia/Tokyo" in body


@pytest.mark.parametrize("url", ["/sites/999999/", "/nodes/999999/"])
def test_unknown_objects_get_the_designed_404_page(client, engineer, url):
    client.force_login(engineer)
    response = client.get(url)
    assert response.status_code == 404
    assert 'data-testid="error-message"' in response.content.decode()


def test_forbidden_page_says_why(client, planner, node):
    client.force_login(planner)
    response = client.get(reverse("node-detail", args=[node.pk]))
    assert response.status_code == 403
    assert "Your role may not view hardware." in response.content.decode()


def test_navigation_fits_the_role(client, partner, engineer, admin_user, site):
    client.force_login(partner)
    body = client.get(reverse("fleet")).content.decode()
    assert "Audit log" not in body and "Administration" not in body
    client.force_login(engineer)
    assert "Audit log" in client.get(reverse("fleet")).content.decode()
    client.force_login(admin_user)
    assert "Administration" in client.get(reverse("fleet")).content.decode()


def test_login_with_wrong_password_shows_a_form_error_and_is_audited(client, engineer):
    from apps.audit.models import AuditEvent

    response = client.post(reverse("login"), {"login": "engineer", "password": "wrong"})
    assert response.status_code == 200
    assert "alert-danger" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.login", result="refused").exists()


def test_node_page_labels_inventory_fields_as_people_write_them(client, engineer, site):
    node = NodeFactory(site=site)
    BmcFacts.objects.create(
        node=node,
        inventory={
            "manufacturer": "Heatsite Lab",
            "product": "HS-CP2",
            "serial": "",
            "part_number": "PN-42",
            "board_serial": "BS-7",
            "chassis_serial": "CS-9",
            "uuid": "4c4c4544-0042",
            "extra": {"asset_tag": "T-1"},
        },
    )
    client.force_login(engineer)
    body = client.get(reverse("node-detail", args=[node.pk])).content.decode()
    block = body.split('data-testid="inventory"', 1)[1].split("</dl>", 1)[0]
    labels = re.findall(r'<dt class="col-5">([^<]+)</dt>', block)
    assert labels == ["Manufacturer", "Product", "Part number", "Board serial",
                      "Chassis serial", "UUID"]  # fmt: skip
    assert '<dt class="col-5">UUID</dt><dd class="col-7">4c4c4544-0042</dd>' in block
    for raw in ("Part_number", "Board_serial", "Chassis_serial", "Uuid", "Extra"):
        assert raw not in body


def test_meter_table_shows_installation_and_removal_as_dates_of_the_site(
    client, engineer, partner_org
):
    site = SiteFactory(partner=partner_org, timezone="America/New_York")
    # 03:00 UTC on 1 March is still 28 February in New York (and already 1 March in Paris).
    old, new = datetime(2025, 3, 1, 3, 0, tzinfo=UTC), datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
    HeatMeterFactory(site=site, serial="HM-OLD", installed_at=old, removed_at=new)
    HeatMeterFactory(site=site, serial="HM-NEW", installed_at=new)
    client.force_login(engineer)
    body = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    table = body.split('data-testid="meter-table"', 1)[1].split("</table>", 1)[0]
    rows = {
        row.split("</td>", 1)[0]: re.findall(
            r'<td data-field="(?:installed|removed)">([^<]*)</td>', row
        )
        for row in table.split("<tr><td>")[1:]
    }
    assert rows == {"HM-OLD": ["28 Feb 2025", "31 May 2025"], "HM-NEW": ["31 May 2025", "—"]}
    assert "a.m." not in table and "p.m." not in table
