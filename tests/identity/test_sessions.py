"""Sessions (issue 13, item 5): idle and absolute limits per role, own sessions, ending a
user's sessions (admins, deactivation, a lowered role, a factor change) with their tokens."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.identity import sessions
from apps.tokens.models import ApiToken
from apps.tokens.services import create_token

pytestmark = pytest.mark.django_db


def _logged_in(client):
    return "_auth_user_id" in client.session


# -- idle and absolute limits -----------------------------------------------------------------


def test_an_engineer_idle_for_31_minutes_must_log_in_again(client, engineer, clock):
    client.force_login(engineer)
    assert client.get(reverse("account")).status_code == 200
    clock.advance(31 * 60)
    response = client.get(reverse("account"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not _logged_in(client)
    assert AuditEvent.objects.filter(action="session.timeout", detail__limit="idle").exists()


def test_activity_keeps_an_engineers_session_alive(client, engineer, clock):
    client.force_login(engineer)
    for _ in range(4):
        clock.advance(25 * 60)
        assert client.get(reverse("account")).status_code == 200


def test_an_engineers_session_ends_after_12_hours_however_active(client, engineer, clock):
    client.force_login(engineer)
    client.get(reverse("account"))
    for _ in range(28):  # 11 h 40 min of requests every 25 minutes
        clock.advance(25 * 60)
        assert client.get(reverse("account")).status_code == 200
    clock.advance(25 * 60)
    assert client.get(reverse("account")).status_code == 302
    assert AuditEvent.objects.filter(action="session.timeout", detail__limit="absolute").exists()


def test_partners_and_planners_have_longer_limits(client, partner, clock):
    client.force_login(partner)
    client.get(reverse("account"))
    clock.advance(2 * 3600)
    assert client.get(reverse("account")).status_code == 200


def test_limits_are_configurable_per_role(client, partner, settings, clock):
    settings.HEATSITE_SESSION_LIMITS = {**settings.HEATSITE_SESSION_LIMITS, "partner": (60, 600)}
    client.force_login(partner)
    client.get(reverse("account"))
    clock.advance(90)
    assert client.get(reverse("account")).status_code == 302


def test_an_expired_session_gets_401_from_the_api_and_hx_redirect_from_htmx(
    client, engineer, clock
):
    client.force_login(engineer)
    client.get(reverse("account"))
    clock.advance(31 * 60)
    response = client.get("/api/v1/sites/")
    assert response.status_code == 401
    assert "log in again" in response.json()["detail"]
    client.force_login(engineer)
    client.get(reverse("account"))
    clock.advance(31 * 60)
    response = client.get(reverse("account"), HTTP_HX_REQUEST="true")
    assert response.status_code == 401
    assert response["HX-Redirect"].startswith(reverse("login"))


def test_the_session_store_expires_at_the_absolute_limit(client, engineer):
    client.force_login(engineer)
    client.get(reverse("account"))
    age = client.session.get_expiry_age()
    assert 12 * 3600 - 120 < age <= 12 * 3600


# -- a person's own sessions ------------------------------------------------------------------


def _two_sessions(user):
    first, second = (
        Client(HTTP_USER_AGENT="first browser"),
        Client(HTTP_USER_AGENT="second browser"),
    )
    for client in (first, second):
        client.force_login(user)
        assert client.get(reverse("account")).status_code == 200  # tracked from here on
    return first, second


def test_the_account_page_links_to_the_sessions(client, partner):
    client.force_login(partner)
    assert reverse("sessions") in client.get(reverse("account")).content.decode()


def test_a_person_lists_their_sessions(engineer, planner):
    first, _second = _two_sessions(engineer)
    Client().force_login(planner)
    page = first.get(reverse("sessions")).content.decode()
    assert "first browser" in page and "second browser" in page
    assert "this session" in page


def test_a_person_ends_one_of_their_other_sessions(engineer):
    first, second = _two_sessions(engineer)
    from allauth.usersessions.models import UserSession

    row = UserSession.objects.get(session_key=second.session.session_key)
    response = first.post(reverse("session-end", args=[row.pk]))
    assert response.status_code == 302
    assert second.get(reverse("account")).status_code == 302  # logged out
    assert first.get(reverse("account")).status_code == 200
    assert AuditEvent.objects.filter(action="session.end", actor=engineer).exists()


def test_nobody_ends_another_persons_session(engineer, planner):
    _first, second = _two_sessions(engineer)
    other = Client()
    other.force_login(planner)
    from allauth.usersessions.models import UserSession

    row = UserSession.objects.get(session_key=second.session.session_key)
    assert other.post(reverse("session-end", args=[row.pk])).status_code == 404
    assert second.get(reverse("account")).status_code == 200


def test_ending_the_other_sessions_keeps_this_one_and_revokes_tokens(engineer):
    first, second = _two_sessions(engineer)
    token, _secret = create_token(engineer, name="script")
    assert first.post(reverse("sessions-end-others")).status_code == 302
    assert first.get(reverse("account")).status_code == 200
    assert second.get(reverse("account")).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


# -- ending all of a user's sessions ---------------------------------------------------------


def test_end_all_ends_sessions_not_tracked_too_and_is_audited(engineer, admin_user):
    client = Client()
    client.force_login(engineer)  # no request yet: not in the tracked list
    sessions.end_all(engineer, reason="test", by=admin_user)
    assert client.get(reverse("account")).status_code == 302
    event = AuditEvent.objects.get(action="session.end_all")
    assert event.actor == admin_user
    assert event.detail["sessions"] >= 1


def test_admin_ends_all_of_a_users_sessions_from_the_admin_site(client, engineer, admin_user):
    first, second = _two_sessions(engineer)
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "end_sessions", "_selected_action": [engineer.pk]},
    )
    assert response.status_code == 302
    assert first.get(reverse("account")).status_code == 302
    assert second.get(reverse("account")).status_code == 302
    assert client.get(reverse("account")).status_code == 200
    assert AuditEvent.objects.filter(
        action="session.end_all", actor=admin_user, target_id=str(engineer.pk)
    ).exists()


def test_admin_lifts_a_users_sign_in_lock_from_the_admin_site(client, engineer, admin_user):
    from apps.identity import lockout

    for _ in range(5):
        lockout.failed("engineer", "10.0.0.1", channel="web")
    client.force_login(admin_user)
    client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "lift_sign_in_lock", "_selected_action": [engineer.pk]},
    )
    assert lockout.refusal("engineer", "10.0.0.1") is None


@pytest.mark.parametrize(
    ("change", "ends"),
    [
        ({"is_active": False}, True),
        ({"role": "planner"}, True),
        ({"role": "admin"}, True),  # admins lose power, console and BIOS
        ({"first_name": "Ada"}, False),
    ],
)
def test_shrinking_access_ends_sessions_and_revokes_tokens(engineer, change, ends):
    client = Client()
    client.force_login(engineer)
    token, _secret = create_token(engineer, name="script")
    for field, value in change.items():
        setattr(engineer, field, value)
    engineer.save()
    token.refresh_from_db()
    assert (client.get(reverse("account")).status_code == 302) is ends
    assert (token.revoked_at is not None) is ends


def test_a_role_that_only_gains_actions_keeps_sessions(planner):
    client = Client()
    client.force_login(planner)
    planner.role = "admin"  # every planner action and more (apps.accounts.policy)
    planner.save()
    assert Session.objects.count() == 1


def test_a_factor_added_ends_the_other_sessions_but_not_the_enrolling_one(engineer):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.signals import authenticator_added
    from django.test import RequestFactory

    first, second = _two_sessions(engineer)
    request = RequestFactory().get("/")
    request.session, request.user = first.session, engineer
    authenticator = Authenticator.objects.create(
        user=engineer, type=Authenticator.Type.TOTP, data={}
    )
    authenticator_added.send(
        sender=Authenticator, request=request, user=engineer, authenticator=authenticator
    )
    assert first.get(reverse("account")).status_code == 200
    assert second.get(reverse("account")).status_code == 302
    assert ApiToken.objects.filter(user=engineer, revoked_at__isnull=True).count() == 0


def test_a_factor_removed_by_an_admin_ends_every_session_of_the_user(engineer, admin_user):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.signals import authenticator_removed
    from django.test import RequestFactory

    first, second = _two_sessions(engineer)
    request = RequestFactory().post("/admin/")
    request.user = admin_user
    authenticator = Authenticator(user=engineer, type=Authenticator.Type.TOTP, data={})
    authenticator_removed.send(
        sender=Authenticator, request=request, user=engineer, authenticator=authenticator
    )
    assert first.get(reverse("account")).status_code == 302
    assert second.get(reverse("account")).status_code == 302
    event = AuditEvent.objects.get(action="session.end_all")
    assert event.actor == admin_user
    assert event.detail["reason"] == "factor removed (totp)"


def test_allauths_own_reauthentication_gives_the_session_a_new_id(client, engineer):
    from allauth.mfa.models import Authenticator
    from allauth.mfa.signals import authenticator_used
    from django.test import RequestFactory

    client.force_login(engineer)
    request = RequestFactory().post("/accounts/2fa/reauthenticate/")
    request.session, request.user = client.session, engineer
    before = request.session.session_key
    authenticator = Authenticator.objects.create(
        user=engineer, type=Authenticator.Type.WEBAUTHN, data={}
    )
    authenticator_used.send(
        sender=Authenticator,
        request=request,
        user=engineer,
        authenticator=authenticator,
        reauthenticated=True,
        passwordless=False,
    )
    assert request.session.session_key != before
