"""The re-authentication prompt, page and building blocks (issue 13, item 4)."""

import pytest
from allauth.mfa.models import Authenticator
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.identity import recent
from tests.factories import PASSWORD
from tests.identity.helpers import enrol_totp, totp_code

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def stale_engineer(client, engineer, clock):
    """An engineer whose last factor use was 6 minutes ago, with a TOTP secret."""
    secret = enrol_totp(engineer)
    client.force_login(engineer)
    clock.advance(6 * 60)
    return engineer, secret


def test_a_dangerous_htmx_request_gets_the_inline_prompt(client, stale_engineer, node):
    response = client.post(reverse("node-power", args=[node.pk]), {"action": "off"}, **HTMX)
    assert response.status_code == 200
    assert response["X-Heatsite-Reauth"] == "required"
    assert response["HX-Retarget"] == "body"
    assert response["HX-Reswap"] == "beforeend"
    page = response.content.decode()
    assert 'data-testid="reauth-prompt"' in page
    assert f'hx-post="{reverse("reauth")}"' in page
    assert 'autocomplete="one-time-code"' in page


def test_a_code_in_the_prompt_lets_the_action_proceed_with_a_new_session_id(
    client, stale_engineer, node
):
    engineer, secret = stale_engineer
    before = client.session.session_key
    response = client.post(reverse("reauth"), {"code": totp_code(secret)}, **HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "heatsite:reauthenticated"
    assert response.content == b""
    assert client.session.session_key != before
    assert recent.last_use(client.session, engineer)["method"] == "totp"
    again = client.post(reverse("node-power", args=[node.pk]), {"action": "bogus"}, **HTMX)
    assert "X-Heatsite-Reauth" not in again
    event = AuditEvent.objects.get(action="identity.reauth")
    assert (event.actor, event.result, event.detail["method"]) == (engineer, "ok", "totp")


def test_a_wrong_code_is_refused_audited_and_counted(client, stale_engineer):
    engineer, secret = stale_engineer
    response = client.post(reverse("reauth"), {"code": "000000"}, **HTMX)
    assert response.status_code == 200  # htmx swaps only 2xx: the prompt again, with the error
    assert "not valid" in response.content.decode()
    assert AuditEvent.objects.filter(action="identity.reauth", result="refused").count() == 1
    for _ in range(4):
        client.post(reverse("reauth"), {"code": "000000"})
    response = client.post(reverse("reauth"), {"code": totp_code(secret)})
    assert response.status_code == 400
    assert "Too many failed sign-ins" in response.content.decode()
    assert not recent.is_recent_session(client.session, engineer)


def test_a_code_is_accepted_once(client, stale_engineer, clock):
    _engineer, secret = stale_engineer
    code = totp_code(secret)
    assert client.post(reverse("reauth"), {"code": code}).status_code == 302
    clock.advance(6 * 60)
    assert client.post(reverse("reauth"), {"code": code}).status_code == 400


def test_the_page_goes_back_to_a_safe_next_only(client, stale_engineer):
    _engineer, secret = stale_engineer
    response = client.post(
        reverse("reauth"), {"code": totp_code(secret), "next": "/account/sessions/"}
    )
    assert response["Location"] == "/account/sessions/"
    response = client.post(
        reverse("reauth"), {"code": totp_code(secret, -1), "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("home")


def test_a_console_page_sends_to_the_reauth_page_and_back(client, stale_engineer, node):
    url = reverse("node-console", args=[node.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('reauth')}?next={url.replace('/', '%2F')}"
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f'value="{url}"' in page.content.decode()


def test_a_person_without_a_factor_confirms_with_their_password(client, partner, clock):
    client.force_login(partner)
    clock.advance(6 * 60)
    page = client.get(reverse("reauth")).content.decode()
    assert 'name="password"' in page and 'name="code"' not in page
    assert client.post(reverse("reauth"), {"password": "wrong"}).status_code == 400
    assert client.post(reverse("reauth"), {"password": PASSWORD}).status_code == 302
    assert recent.last_use(client.session, partner)["method"] == "password"


def test_a_passkey_holder_is_offered_the_passkey(client, engineer):
    Authenticator.objects.create(user=engineer, type=Authenticator.Type.WEBAUTHN, data={})
    client.force_login(engineer)
    page = client.get(reverse("reauth")).content.decode()
    assert reverse("mfa_reauthenticate") in page


def test_the_reauth_page_needs_a_login(client):
    response = client.get(reverse("reauth"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# -- the building blocks other modules use ---------------------------------------------------


def _request(user, session):
    request = RequestFactory().post("/x/")
    request.user, request.session = user, session
    return request


def test_recent_factor_permission_refuses_a_stale_session_with_the_reason(client, engineer, clock):
    from rest_framework.request import Request

    client.force_login(engineer)
    permission = recent.RecentFactor()
    request = Request(_request(engineer, client.session))
    request.user, request.auth = engineer, None  # session authentication
    assert permission.has_permission(request, None)
    clock.advance(6 * 60)
    assert not permission.has_permission(request, None)
    assert "re-authenticate" in permission.message
    request.auth = object()  # an API token: governed by its scopes instead
    assert permission.has_permission(request, None)


def test_recent_factor_required_decorator(client, engineer, clock):
    view = recent.recent_factor_required(lambda request: HttpResponse("done"))
    client.force_login(engineer)
    request = _request(engineer, client.session)
    assert view(request).content == b"done"
    clock.advance(6 * 60)
    response = view(request)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("reauth"))


def test_a_mark_of_another_user_does_not_count(client, engineer, planner):
    client.force_login(engineer)
    assert recent.is_recent_session(client.session, engineer)
    assert not recent.is_recent_session(client.session, planner)


def test_a_plain_forms_post_is_held_and_proceeds_after_the_code(
    client, stale_engineer, node, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.hardware.tasks import bmc_password_rotate_task

    queued = []
    monkeypatch.setattr(bmc_password_rotate_task, "delay", lambda *args: queued.append(args))
    _engineer, secret = stale_engineer
    url = reverse("node-bmc-password-rotate", args=[node.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, HTTP_REFERER=f"http://testserver/nodes/{node.pk}/")
    assert response["Location"].startswith(reverse("reauth"))
    assert queued == []
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reauth"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert len(queued) == 1


def test_a_form_with_a_password_is_never_held(client, stale_engineer):
    client.post(reverse("account_change_password"), {"oldpassword": PASSWORD, "password1": "x"})
    assert "identity_suspended_post" not in client.session
