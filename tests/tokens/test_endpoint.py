"""POST /api/v1/auth/token/ and token authentication end to end: factor, lockout, scopes."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.tokens.models import ApiToken
from apps.tokens.services import create_token
from tests.factories import PASSWORD
from tests.tokens.totp import current_code, enrol_totp

pytestmark = pytest.mark.django_db
URL = "/api/v1/auth/token/"


def _post(client, **data):
    return client.post(URL, data, content_type="application/json")


def test_partner_gets_a_read_token_for_scripts_and_it_reads_own_sites(client, partner, site):
    response = _post(client, username="partner", password=PASSWORD, name="ERP")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token"].startswith("hst_") and body["scopes"] == ["read"]
    assert body["name"] == "ERP" and body["expires"]
    sites = client.get("/api/v1/sites/", headers={"authorization": f"Token {body['token']}"})
    assert [s["id"] for s in sites.json()["results"]] == [site.pk]
    token = ApiToken.objects.get(pk=body["id"])
    assert token.last_used_ip == "127.0.0.1" and body["token"] not in token.digest


def test_partner_may_not_ask_for_write(client, partner):
    response = _post(client, username="partner", password=PASSWORD, scopes=["write"])
    assert response.status_code == 400
    assert "may not hold a token with the write scope" in str(response.json())


def test_account_with_a_factor_needs_the_current_code_once(client, engineer):
    secret = enrol_totp(engineer)
    response = _post(client, username="engineer", password=PASSWORD)
    assert response.status_code == 401 and "send `otp`" in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"
    assert _post(client, username="engineer", password=PASSWORD, otp="000000").status_code == 401
    code = current_code(secret)
    ok = _post(client, username="engineer", password=PASSWORD, otp=code, scopes=["operate"])
    assert ok.status_code == 200 and ok.json()["scopes"] == ["read", "write", "operate"]
    replay = _post(client, username="engineer", password=PASSWORD, otp=code)
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    refused = AuditEvent.objects.filter(action="token.refused", result="refused")
    assert refused.count() == 3
    assert AuditEvent.objects.get(action="token.create").detail["via"] == "api (password+totp)"


def test_staff_without_an_enrolled_factor_is_told_to_enrol(client, engineer):
    response = _post(client, username="engineer", password=PASSWORD)
    assert response.status_code == 403 and "enrol" in response.json()["detail"]
    assert not ApiToken.objects.exists()


def test_wrong_password_is_401_and_five_lock_the_username_even_with_the_right_one(client, planner):
    for _ in range(5):
        response = _post(client, username="planner", password="wrong")
        assert response.status_code == 401
        assert response.json() == {"detail": "Wrong username or password."}
    locked = _post(client, username="planner", password=PASSWORD)
    assert locked.status_code == 429 and "locked" in locked.json()["detail"]
    assert not ApiToken.objects.exists()


def test_missing_fields_and_bad_days_are_400_with_field_errors(client, planner):
    assert "password" in _post(client, username="planner").json()
    response = _post(client, username="planner", password=PASSWORD, days=400)
    assert response.status_code == 400 and "days" in response.json()


def test_revocation_and_expiry_take_effect_on_the_next_request(client, planner):
    token, secret = create_token(planner, name="n")
    headers = {"authorization": f"Token {secret}"}
    assert client.get("/api/v1/sites/", headers=headers).status_code == 200
    token.revoked_at = timezone.now()
    token.save()
    response = client.get("/api/v1/sites/", headers=headers)
    assert response.status_code == 401 and response.json()["detail"] == (
        "This token has been revoked."
    )
    token, secret = create_token(planner, name="m")
    ApiToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(minutes=1))
    response = client.get("/api/v1/sites/", headers={"authorization": f"Token {secret}"})
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_token_outside_its_address_ranges_is_refused(client, planner):
    _, secret = create_token(planner, name="n", allowed_ips=["10.0.0.0/8"])
    response = client.get("/api/v1/sites/", headers={"authorization": f"Token {secret}"})
    assert response.status_code == 401 and "address" in response.json()["detail"]
    response = client.get(
        "/api/v1/sites/", headers={"authorization": f"Token {secret}"}, REMOTE_ADDR="10.2.3.4"
    )
    assert response.status_code == 200


def test_deactivated_user_token_stops_working(client, planner):
    _, secret = create_token(planner, name="n")
    planner.is_active = False
    planner.save()
    response = client.get("/api/v1/sites/", headers={"authorization": f"Token {secret}"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    "header", ["Token", "Token a b", "Token hst_nope", "Bearer hst_x", "Basic eDp5"]
)
def test_malformed_or_unknown_tokens_are_401(client, planner, header):
    response = client.get("/api/v1/sites/", headers={"authorization": header})
    assert response.status_code == 401 and response.json()["detail"]


def test_write_token_cannot_power_and_read_token_cannot_change(client, engineer, node):
    _, write = create_token(engineer, name="w", scopes=["write"])
    response = client.post(
        f"/api/v1/nodes/{node.pk}/power/",
        {"action": "on"},
        content_type="application/json",
        headers={"authorization": f"Token {write}"},
    )
    assert response.status_code == 403 and "operate scope" in response.json()["detail"]
    _, read = create_token(engineer, name="r")
    response = client.patch(
        f"/api/v1/nodes/{node.pk}/",
        {"rack_position": "R9"},
        content_type="application/json",
        headers={"authorization": f"Token {read}"},
    )
    assert response.status_code == 403 and "lacks the write scope" in response.json()["detail"]


def test_write_token_cannot_change_bios(client, engineer, node):
    _, write = create_token(engineer, name="w", scopes=["write"])
    response = client.patch(
        f"/api/v1/nodes/{node.pk}/bios/",
        {"settings": {"BootMode": "Uefi"}},
        content_type="application/json",
        headers={"authorization": f"Token {write}"},
    )
    assert response.status_code == 403 and "operate scope" in response.json()["detail"]


def test_drf_authtoken_table_is_gone():
    assert "authtoken_token" not in connection.introspection.table_names()


def test_wrong_codes_lock_the_username_although_the_password_is_right(client, engineer):
    secret = enrol_totp(engineer)
    for _ in range(5):
        wrong = _post(client, username="engineer", password=PASSWORD, otp="000000")
        assert wrong.status_code == 401
    locked = _post(client, username="engineer", password=PASSWORD, otp=current_code(secret))
    assert locked.status_code == 429


def test_partner_token_sees_only_its_organisations_sites(client, partner, site, other_site):
    _, secret = create_token(partner, name="erp")
    headers = {"authorization": f"Token {secret}"}
    assert client.get(f"/api/v1/sites/{other_site.pk}/", headers=headers).status_code == 404
    assert client.get(f"/api/v1/sites/{site.pk}/", headers=headers).status_code == 200
    assert client.get("/api/v1/nodes/", headers=headers).status_code == 403


def test_a_session_with_another_authorization_scheme_is_not_let_through(client, engineer):
    # The factor middleware leaves requests with an Authorization header to token auth: such a
    # request must never be answered on the session instead.
    client.force_login(engineer)
    response = client.get("/api/v1/sites/", headers={"authorization": "Basic eDp5"})
    assert response.status_code == 401
