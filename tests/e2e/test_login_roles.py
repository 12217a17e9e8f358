"""Logging in through the real form, in a real browser: what a partner and an engineer see.

Two partner organisations with three sites each and two nodes per site. The partner must never
meet hardware (node tables, serials, BMC endpoints) nor another partner's sites; the engineer
sees everything but a BMC password, and searches and sorts the fleet through htmx.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from tests.e2e.login import log_in
from tests.factories import NodeFactory, OrganisationFactory, SiteFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BMC_PASSWORD = "hunter2-e2e-secret"
SITES = {
    "Réseau Chaleur Urbaine": [
        ("urb-001", "Piscine Grenoble", "Grenoble"),
        ("urb-002", "Lycée Annecy", "Annecy"),
        ("urb-003", "Hôpital Chambéry", "Chambéry"),
    ],
    "Eau Chaude Nord": [
        ("nrd-001", "Gymnase Lille", "Lille"),
        ("nrd-002", "Résidence Roubaix", "Roubaix"),
        ("nrd-003", "Sous-station Grenoble", "Grenoble"),
    ],
}
FLEET_CODES = "[data-testid=fleet-table] tbody tr td:first-child a"


@pytest.fixture
def fleet():
    """The seeded fleet: sites and nodes by code, and the two users who log in."""
    sites, nodes, orgs = {}, {}, {}
    for org_index, (org_name, rows) in enumerate(SITES.items()):
        org = orgs[org_name] = OrganisationFactory(name=org_name)
        for site_index, (code, name, city) in enumerate(rows):
            site = sites[code] = SiteFactory(
                partner=org, code=code, name=name, city=city, heat_network=f"Réseau {city}"
            )
            nodes[code] = [
                NodeFactory(
                    site=site,
                    name=f"{code}-n{j:02d}",
                    serial=f"SN-{code.upper()}-{j:02d}",
                    bmc_host=f"10.{org_index}.{site_index}.{j + 10}",
                    bmc_port=6230 + j,
                    bmc_password=BMC_PASSWORD,
                )
                for j in (1, 2)
            ]
    partner = UserFactory(
        username="partner-urbaine", role=Role.PARTNER, organisation=orgs["Réseau Chaleur Urbaine"]
    )
    engineer = UserFactory(username="engineer", role=Role.ENGINEER)
    return {"sites": sites, "nodes": nodes, "partner": partner, "engineer": engineer}


def expect_designed_404(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_test_id("error-message")).to_be_visible()


def test_wrong_password_stays_on_the_login_form_with_one_clear_error(fleet, live_server, page):
    log_in(page, live_server.url, "engineer", password="not-the-password")
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")
    expect(page.get_by_test_id("user-menu")).to_have_count(0)


def test_partner_sees_only_their_sites_and_never_hardware(fleet, live_server, page):
    own = [code for code, _, _ in SITES["Réseau Chaleur Urbaine"]]
    log_in(page, live_server.url, "partner-urbaine")

    expect(page).to_have_url(f"{live_server.url}/sites/")
    expect(page.locator(FLEET_CODES)).to_have_text(own)
    assert "nrd-00" not in page.content()
    expect(page.get_by_test_id("role-badge")).to_have_text("Heat-network partner")
    page.get_by_test_id("user-menu").locator(".dropdown-toggle").click()
    expect(page.get_by_test_id("user-menu").locator(".dropdown-menu")).to_contain_text(
        "Réseau Chaleur Urbaine"
    )

    page.get_by_role("link", name="urb-001").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Piscine Grenoble")
    expect(page.get_by_test_id("heat-summary")).to_be_visible()
    expect(page.get_by_test_id("node-table")).to_have_count(0)
    body = page.content()
    for node in fleet["nodes"]["urb-001"]:
        for secret in (node.name, node.serial, node.bmc_host, f":{node.bmc_port}"):
            assert secret not in body

    own_node = fleet["nodes"]["urb-001"][0]
    expect_designed_404(page, f"{live_server.url}/nodes/{own_node.pk}/")
    expect_designed_404(page, f"{live_server.url}/sites/{fleet['sites']['nrd-001'].pk}/")


def test_engineer_sees_all_sites_nodes_and_bmc_endpoint_but_no_password(fleet, live_server, page):
    log_in(page, live_server.url, "engineer")

    expect(page).to_have_url(f"{live_server.url}/sites/")
    expect(page.locator(FLEET_CODES)).to_have_text(sorted(fleet["sites"]))
    expect(page.get_by_test_id("role-badge")).to_have_text("Remote engineer")

    page.get_by_role("link", name="nrd-002").click()
    node_table = page.get_by_test_id("node-table")
    expect(node_table).to_be_visible()
    expect(node_table.locator("tbody tr")).to_have_count(2)

    node = fleet["nodes"]["nrd-002"][1]
    node_table.get_by_role("link", name=node.name).click()
    expect(page).to_have_url(f"{live_server.url}/nodes/{node.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(node.name)
    expect(page.locator("code", has_text=f"{node.bmc_host}:{node.bmc_port}")).to_be_visible()
    expect(page.get_by_text("set (encrypted)")).to_be_visible()
    body = page.content()
    assert node.serial in body
    assert BMC_PASSWORD not in body and node.bmc_password_encrypted not in body


def test_engineer_searches_and_sorts_the_fleet_without_a_full_reload(fleet, live_server, page):
    log_in(page, live_server.url, "engineer")
    expect(page.locator(FLEET_CODES)).to_have_count(len(fleet["sites"]))
    # htmx binds the search form's triggers on DOMContentLoaded: typing before that (the table
    # is there as soon as it is parsed, a loaded machine can be slower) would send nothing.
    page.wait_for_function("document.readyState === 'complete' && window.htmx !== undefined")
    # A full page load would wipe this; an htmx swap keeps it.
    page.evaluate("window.__noReload = true")

    with page.expect_response(
        lambda r: "q=grenoble" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.get_by_label("Search sites").fill("grenoble")
    expect(page).to_have_url(re.compile(r"/sites/\?.*q=grenoble"))
    expect(page.locator(FLEET_CODES)).to_have_text(["nrd-003", "urb-001"])

    by_name = page.locator("[data-testid=fleet-table] thead").get_by_role("link", name="Site")
    by_name.click()
    expect(page).to_have_url(re.compile(r"sort=name"))
    expect(page.locator(FLEET_CODES)).to_have_text(["urb-001", "nrd-003"])
    page.locator("[data-testid=fleet-table] thead").get_by_role("link", name="Site").click()
    expect(page).to_have_url(re.compile(r"sort=-name"))
    expect(page.locator(FLEET_CODES)).to_have_text(["nrd-003", "urb-001"])
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Site")

    assert page.evaluate("window.__noReload") is True
    # The server answered with the table fragment, not a whole page nested into the table.
    expect(page.get_by_role("search")).to_have_count(1)
    expect(page.get_by_test_id("user-menu")).to_have_count(1)
