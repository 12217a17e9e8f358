"""The account page's API tokens: create (shown once), list, revoke; and the token API."""

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.tokens.models import ApiToken
from apps.tokens.services import create_token

pytestmark = pytest.mark.django_db


def test_engineer_creates_an_operate_token_shown_once(client, engineer):
    client.force_login(engineer)
    response = client.post(
        reverse("token-create"),
        {"name": "ansible", "scope": "operate", "days": "90", "allowed_ips": "10.0.0.0/8"},
    )
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret.startswith("hst_") and secret in response.content.decode()
    token = ApiToken.objects.get(user=engineer)
    assert token.scopes == ["read", "write", "operate"] and token.allowed_ips == ["10.0.0.0/8"]
    page = client.get(reverse("account")).content.decode()
    assert "ansible" in page and token.prefix in page and secret not in page
    assert token.digest not in page
    event = AuditEvent.objects.get(action="token.create")
    assert event.actor == engineer and secret not in str(event.detail)


def test_partner_is_offered_read_only_and_a_forged_scope_is_a_form_error(client, partner):
    client.force_login(partner)
    form = client.get(reverse("token-create")).context["form"]
    assert [value for value, _ in form.fields["scope"].choices] == ["read"]
    response = client.post(reverse("token-create"), {"name": "x", "scope": "write", "days": "30"})
    assert response.status_code == 400 and "scope" in response.context["form"].errors
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "x", "scope": "read", "days": "366"}, "days"),
        ({"name": "x", "scope": "read", "days": "30", "allowed_ips": "10.0.0.300"}, "allowed_ips"),
        ({"scope": "read", "days": "30"}, "name"),
    ],
)
def test_bad_input_is_a_form_error(client, planner, data, field):
    client.force_login(planner)
    response = client.post(reverse("token-create"), data)
    assert response.status_code == 400 and field in response.context["form"].errors


def test_account_page_shows_last_use_and_revoke_works_only_on_own_tokens(client, planner, engineer):
    token, secret = create_token(planner, name="grafana")
    client.get("/api/v1/sites/", headers={"authorization": f"Token {secret}"})
    client.force_login(planner)
    page = client.get(reverse("account")).content.decode()
    assert "grafana" in page and "127.0.0.1" in page
    other, _ = create_token(engineer, name="theirs")
    assert client.post(reverse("token-revoke", args=[other.pk])).status_code == 404
    assert client.post(reverse("token-revoke", args=[token.pk])).status_code == 302
    token.refresh_from_db()
    other.refresh_from_db()
    assert token.revoked_at is not None and other.revoked_at is None
    assert AuditEvent.objects.filter(action="token.revoke", actor=planner).count() == 1


def test_token_api_lists_creates_and_revokes_without_showing_secrets(client, engineer):
    client.force_login(engineer)
    created = client.post(
        reverse("api:token-list"),
        {"name": "ci", "scopes": ["write"], "days": 7},
        content_type="application/json",
    )
    assert created.status_code == 201 and created.json()["token"].startswith("hst_")
    listed = client.get(reverse("api:token-list")).json()
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    assert "digest" not in listed[0]
    secret = created.json()["token"]
    headers = {"authorization": f"Token {secret}"}
    # a token may not make tokens; it may revoke itself (write)
    again = client.post(
        reverse("api:token-list"), {"name": "x"}, content_type="application/json", headers=headers
    )
    assert again.status_code == 403 and "cannot create tokens" in again.json()["detail"]
    url = reverse("api:token-detail", args=[created.json()["id"]])
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 401


def test_read_token_cannot_revoke(client, planner):
    token, secret = create_token(planner, name="r")
    url = reverse("api:token-detail", args=[token.pk])
    response = client.delete(url, headers={"authorization": f"Token {secret}"})
    assert response.status_code == 403
