"""The inventory API: access, write-only BMC passwords, clear 400s, tokens, audit."""

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.core import crypto
from apps.sites.models import Node
from apps.tokens.services import create_token
from tests.factories import NodeFactory, SiteFactory


@pytest.fixture
def api():
    return APIClient()


def _login(api, user):
    api.force_authenticate(user)
    return api


def test_partner_lists_only_their_sites_with_whitelisted_fields(api, partner, site, other_site):
    response = _login(api, partner).get("/api/v1/sites/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["code"] for row in rows] == [site.code]
    assert "address" not in rows[0]
    assert "latitude" not in rows[0]
    assert rows[0]["contract_min_supply_c"] == "60.0"


def test_engineer_sees_every_site_with_address(api, engineer, site, other_site):
    rows = _login(api, engineer).get("/api/v1/sites/").json()["results"]
    assert {row["code"] for row in rows} == {site.code, other_site.code}
    assert rows[0]["address"]


def test_sites_are_paginated_and_filterable(api, engineer, partner_org):
    SiteFactory.create_batch(7, partner=partner_org, status="active")
    SiteFactory.create_batch(2, partner=partner_org, status="maintenance", city="Grenoble")
    page = _login(api, engineer).get("/api/v1/sites/?limit=5").json()
    assert page["count"] == 9 and len(page["results"]) == 5 and page["next"]
    assert api.get("/api/v1/sites/?status=maintenance").json()["count"] == 2
    assert api.get("/api/v1/sites/?search=grenoble").json()["count"] == 2


def test_node_bmc_password_is_write_only_and_encrypted_at_rest(api, engineer, site):
    payload = {
        "site": site.pk,
        "name": "lyo-0001-n09",
        "bmc_protocol": "ipmi",
        "bmc_host": "10.1.2.3",
        "bmc_port": 623,
        "bmc_username": "admin",
        "bmc_password": "s3cret-Passw0rd",
    }
    response = _login(api, engineer).post("/api/v1/nodes/", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert "bmc_password" not in body and body["bmc_password_set"] is True
    assert "s3cret-Passw0rd" not in response.content.decode()
    node = Node.objects.get(name="lyo-0001-n09")
    assert "s3cret" not in node.bmc_password_encrypted
    assert crypto.decrypt(node.bmc_password_encrypted) == "s3cret-Passw0rd"
    assert "s3cret-Passw0rd" not in api.get(f"/api/v1/nodes/{node.pk}/").content.decode()
    event = AuditEvent.objects.get(action="node.create")
    assert event.actor == engineer and event.detail["changed"]["bmc_password"] == "***"
    assert "s3cret" not in str(event.detail)


def test_updating_a_node_without_password_keeps_the_stored_one(api, engineer, node):
    before = node.bmc_password
    response = _login(api, engineer).patch(
        f"/api/v1/nodes/{node.pk}/", {"bmc_host": "10.9.9.9"}, format="json"
    )
    assert response.status_code == 200
    node.refresh_from_db()
    assert node.bmc_host == "10.9.9.9" and node.bmc_password == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"bmc_port": 70000}, "bmc_port"),
        ({"bmc_protocol": "telnet"}, "bmc_protocol"),
        ({"site": 999999}, "site"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_node_input_gets_400_with_field_errors_and_changes_nothing(
    api, engineer, node, payload, field
):
    before = Node.objects.values().get(pk=node.pk)
    response = _login(api, engineer).patch(f"/api/v1/nodes/{node.pk}/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Node.objects.values().get(pk=node.pk) == before


def test_site_with_unknown_timezone_is_rejected_by_model_validation(api, admin_user, partner_org):
    payload = {
        "code": "new-01",
        "name": "New",
        "partner": partner_org.pk,
        "timezone": "Mars/Olympus",
    }
    response = _login(api, admin_user).post("/api/v1/sites/", payload, format="json")
    assert response.status_code == 400
    assert "timezone" in response.json()


def test_admin_creates_a_site_and_it_is_audited(api, admin_user, partner_org):
    payload = {"code": "new-01", "name": "New pool", "partner": partner_org.pk}
    response = _login(api, admin_user).post("/api/v1/sites/", payload, format="json")
    assert response.status_code == 201
    assert AuditEvent.objects.filter(action="site.create", actor=admin_user).count() == 1


def test_planner_cannot_change_a_site(api, planner, site):
    response = _login(api, planner).patch(f"/api/v1/sites/{site.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 403
    site.refresh_from_db()
    assert site.name != "x"


def test_partner_cannot_reach_another_partners_site_by_id(api, partner, other_site):
    assert _login(api, partner).get(f"/api/v1/sites/{other_site.pk}/").status_code == 404


def test_token_authenticates_with_its_users_access(api, engineer, node):
    _, secret = create_token(engineer, name="script")
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    assert api.get("/api/v1/nodes/").json()["count"] == 1


def test_token_request_with_wrong_password_is_a_401_with_reason(api, planner):
    response = api.post("/api/v1/auth/token/", {"username": planner.username, "password": "nope"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Wrong username or password."}


def test_unauthenticated_api_call_is_401_with_token_challenge(api, site):
    response = api.get("/api/v1/sites/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_nodes_can_be_filtered_by_site(api, engineer, site, other_site):
    NodeFactory.create_batch(3, site=site)
    NodeFactory.create_batch(2, site=other_site)
    response = _login(api, engineer).get(f"/api/v1/nodes/?site={site.pk}")
    assert response.json()["count"] == 3


def test_openapi_schema_documents_the_write_only_password(api, engineer):
    schema = _login(api, engineer).get("/api/v1/schema/?format=json").json()
    request_props = schema["components"]["schemas"]["NodeRequest"]["properties"]
    response_props = schema["components"]["schemas"]["Node"]["properties"]
    assert "bmc_password" in request_props and "bmc_password" not in response_props
