"""Enrolling and revoking gateways from the console and the API (the broker stubbed here; the
real rabbitmqctl path is tests/gateways/test_isolation.py)."""

import json

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.gateways import dispatch, rabbit
from apps.gateways.models import Gateway

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker(monkeypatch):
    made, deleted = [], []
    monkeypatch.setattr(rabbit, "user_create", lambda name, pw, **kw: made.append(name) or name)
    monkeypatch.setattr(rabbit, "user_delete", deleted.append)
    monkeypatch.setattr(dispatch, "results_declare", lambda: None)
    return made, deleted


def test_an_engineer_enrols_a_gateway_through_the_api_and_gets_its_keys_once(
    client, engineer, site, broker
):
    client.force_login(engineer)
    url = reverse("api:gateway-list")
    response = client.post(
        url, {"name": "lyon-gw", "sites": [site.code]}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["sites"] == [site.code] and body["status"] == "active"
    assert set(json.loads(body["private_keys"])) == {"x25519", "ed25519"}
    assert 'name = "lyon-gw"' in body["config"] and "gw-lyon-gw:" in body["config"]
    assert response["Cache-Control"] == "no-store"
    assert broker[0] == ["lyon-gw"]
    event = AuditEvent.objects.get(action="gateway.enrol")
    assert event.actor == engineer and event.detail["sites"] == [site.code]
    listed = client.get(url).json()
    assert listed == [{k: v for k, v in body.items() if k not in ("private_keys", "config")}]


@pytest.mark.parametrize(
    ("data", "status", "text"),
    [
        ({"name": "x", "sites": ["nope"]}, 400, "No site with code nope"),
        ({"name": "Bad Name", "sites": ["lyo-0001"]}, 400, "name"),
        ({"name": "again", "sites": ["lyo-0001"]}, 409, "already served"),
    ],
)
def test_a_bad_enrolment_is_refused_with_the_reason(
    client, engineer, site, broker, data, status, text
):
    client.force_login(engineer)
    client.post(
        reverse("api:gateway-list"),
        {"name": "first", "sites": [site.code]},
        content_type="application/json",
    )
    response = client.post(reverse("api:gateway-list"), data, content_type="application/json")
    assert response.status_code == status
    assert text in response.content.decode()
    assert Gateway.objects.count() == 1


def test_the_page_enrols_shows_the_key_once_and_revokes_audited(client, engineer, site, broker):
    client.force_login(engineer)
    page = client.post(reverse("gateways"), {"name": "lyon-gw", "sites": site.code})
    assert page.status_code == 200
    assert b'data-testid="gateway-key"' in page.content and b"x25519" in page.content
    again = client.get(reverse("gateways"))
    assert b"x25519" not in again.content and b"lyon-gw" in again.content
    gateway = Gateway.objects.get(name="lyon-gw")
    response = client.post(reverse("gateway-revoke", args=[gateway.pk]))
    assert response.status_code == 302
    gateway.refresh_from_db()
    assert gateway.status == "revoked" and broker[1] == ["lyon-gw"]
    assert list(
        AuditEvent.objects.filter(target_id=str(gateway.pk), action__startswith="gateway.")
        .order_by("id")
        .values_list("action", "actor")
    ) == [("gateway.enrol", engineer.pk), ("gateway.revoke", engineer.pk)]


def test_admins_see_gateways_but_do_not_enrol_or_revoke(client, admin_user, site, broker):
    gateway = Gateway.objects.create(name="gw", box_public_key="x", signing_public_key="y")
    client.force_login(admin_user)
    page = client.get(reverse("gateways"))
    assert page.status_code == 200 and b"Enrol a gateway" not in page.content
    assert client.post(reverse("gateway-revoke", args=[gateway.pk])).status_code == 403
    assert broker == ([], [])
