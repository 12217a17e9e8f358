"""Second factor for staff (issue 13, items 1 and 2): enforcement, one door, secrets at rest.

These tests opt out of the test clients' factor shortcut (`real_factor`): what they log in with
is what a person would have.
"""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core import mail
from django.db import connection
from django.urls import reverse

from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from apps.identity import factors
from tests.factories import PASSWORD, UserFactory
from tests.identity.helpers import totp_code

pytestmark = [pytest.mark.real_factor, pytest.mark.django_db]


def log_in(client, user, password=PASSWORD):
    return client.post(reverse("login"), {"login": user.username, "password": password})


def pass_factor(client, code):
    return client.post(reverse("mfa_authenticate"), {"code": code})


# -- enforcement ----------------------------------------------------------------------------


def test_staff_without_a_factor_reach_only_enrolment(client, engineer, site):
    client.force_login(engineer)

    response = client.get(reverse("fleet"))
    assert response.status_code == 302 and response["Location"] == reverse("mfa_index")
    htmx = client.get(reverse("fleet"), headers={"HX-Request": "true"})
    assert htmx.status_code == 403 and htmx["HX-Redirect"] == reverse("mfa_index")
    api = client.get("/api/v1/sites/")
    assert api.status_code == 403
    assert "second factor" in api.json()["detail"]
    admin = client.get(reverse("admin:index"))
    assert admin.status_code == 302 and admin["Location"] == reverse("mfa_index")

    enrolment = client.get(reverse("mfa_index"))
    assert enrolment.status_code == 200
    assert "Authenticator App" in enrolment.content.decode()
    assert client.get(reverse("mfa_activate_totp")).status_code == 200


@pytest.mark.parametrize("role", ["partner", "planner"])
def test_partners_and_planners_are_offered_a_factor_not_forced(client, users, site, role):
    client.force_login(users[role])
    assert client.get(reverse("fleet")).status_code == 200
    assert client.get(reverse("mfa_index")).status_code == 200


def test_the_required_roles_are_a_setting(client, partner, site, settings):
    settings.HEATSITE_MFA_REQUIRED_ROLES = ["engineer", "admin", "partner"]
    client.force_login(partner)
    assert client.get(reverse("fleet"))["Location"] == reverse("mfa_index")
    settings.HEATSITE_MFA_REQUIRED_ROLES = []
    engineer = UserFactory(username="eng-free", role=Role.ENGINEER)
    client.force_login(engineer)
    assert client.get(reverse("fleet")).status_code == 200


def test_a_session_that_went_around_an_enrolled_factor_is_ended(client, engineer, site):
    factors.enrol_totp(engineer)
    client.force_login(engineer)  # no factor passed in this session

    api = client.get("/api/v1/sites/")
    assert api.status_code == 403 and "log in again" in api.json()["detail"]
    page = client.get(reverse("fleet"))
    assert page.status_code == 302 and page["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db(transaction=True)
def test_websocket_of_staff_without_the_factor_is_refused(client, engineer, partner):
    client.force_login(engineer)

    def connect():
        headers = [
            (b"origin", b"http://testserver"),
            (b"host", b"testserver"),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        ]

        async def run():
            from heatsite.asgi import application

            communicator = WebsocketCommunicator(application, "/ws/fleet/", headers=headers)
            connected, code = await communicator.connect()
            await communicator.disconnect()
            return "ok" if connected else code

        return async_to_sync(run)()

    assert connect() == 4403
    client.force_login(partner)  # not required: connects
    assert connect() == "ok"


# -- the one door: login through the factor --------------------------------------------------


def test_login_asks_for_the_code_and_accepts_each_code_once(client, engineer, site):
    secret = factors.enrol_totp(engineer)

    response = log_in(client, engineer)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("fleet")).status_code == 302  # not logged in yet
    assert "_auth_user_id" not in client.session

    wrong = pass_factor(client, "000000" if totp_code(secret) != "000000" else "111111")
    assert wrong.status_code == 200 and "Incorrect code" in wrong.content.decode()
    code = totp_code(secret)
    assert pass_factor(client, code).status_code == 302
    assert client.get(reverse("fleet")).status_code == 200
    request = type("R", (), {"user": engineer, "session": client.session})()
    assert factors.login_method(request) == "password+totp"
    assert AuditEvent.objects.filter(action="auth.login", actor=engineer).exists()

    client.logout()
    log_in(client, engineer)
    replay = pass_factor(client, code)
    assert replay.status_code == 200 and "Incorrect code" in replay.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_recovery_code_logs_in_once_and_is_audited(client, engineer):
    factors.enrol_totp(engineer)
    recovery = Authenticator.objects.get(user=engineer, type=Authenticator.Type.RECOVERY_CODES)
    code = recovery.wrap().get_unused_codes()[0]

    log_in(client, engineer)
    assert pass_factor(client, code).status_code == 302
    request = type("R", (), {"user": engineer, "session": client.session})()
    assert factors.login_method(request) == "password+recovery_code"
    assert AuditEvent.objects.filter(action="mfa.recovery_code.use", target_id=str(engineer.pk))
    client.logout()
    log_in(client, engineer)
    assert pass_factor(client, code).status_code == 200  # used


def test_admin_site_login_goes_through_the_same_door(client, admin_user):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))

    secret = factors.enrol_totp(admin_user)
    log_in(client, admin_user)
    assert client.get(reverse("admin:index")).status_code == 302  # factor not passed yet
    pass_factor(client, totp_code(secret))
    assert client.get(reverse("admin:index")).status_code == 200


def test_verify_totp_accepts_a_code_once(engineer):
    secret = factors.enrol_totp(engineer)
    code = totp_code(secret)
    assert factors.verify_totp(engineer, code) is True
    assert factors.verify_totp(engineer, code) is False
    assert factors.verify_totp(engineer, "not-a-code") is False
    assert factors.verify_totp(UserFactory(username="no-factor"), code) is False


# -- enrolment ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # allauth announces the new factor on commit
def test_enrolling_totp_through_the_page_opens_the_console(client, engineer, site):
    client.force_login(engineer)
    page = client.get(reverse("mfa_activate_totp")).content.decode()
    secret = client.session["mfa.totp.secret"]
    assert secret in page  # shown for typing in, with the QR code

    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert factors.has_factor(engineer)
    assert Authenticator.objects.filter(user=engineer, type="recovery_codes").exists()
    assert client.get(reverse("fleet")).status_code == 200
    assert AuditEvent.objects.filter(action="mfa.factor.add", target_id=str(engineer.pk)).exists()


def test_staff_cannot_remove_their_last_factor(engineer):
    factors.enrol_totp(engineer)
    totp = Authenticator.objects.get(user=engineer, type="totp")
    from apps.identity.adapters import MFAAdapter

    assert MFAAdapter().can_delete_authenticator(totp) is False
    partner_like = UserFactory(username="p-free", role=Role.PLANNER)
    factors.enrol_totp(partner_like)
    planner_totp = Authenticator.objects.get(user=partner_like, type="totp")
    assert MFAAdapter().can_delete_authenticator(planner_totp) is True


# -- secrets at rest ------------------------------------------------------------------------


def test_factor_secrets_are_encrypted_at_rest(engineer):
    secret = factors.enrol_totp(engineer)
    seed = Authenticator.objects.get(user=engineer, type="recovery_codes").wrap()
    codes = seed.generate_codes()

    with connection.cursor() as cursor:
        cursor.execute("SELECT data FROM mfa_authenticator WHERE user_id = %s", [engineer.pk])
        dump = " ".join(str(row[0]) for row in cursor.fetchall())
    assert secret not in dump and secret.lower() not in dump
    assert re.search(r"gAAAAA", dump)  # Fernet tokens
    assert not any(code in dump for code in codes)
    assert factors.totp_secret(engineer) == secret  # and it reads back with the keys


# -- password reset and the admin reset -----------------------------------------------------


def test_password_reset_never_logs_in_and_never_skips_the_factor(client, engineer, site):
    engineer.email = "engineer@example.org"
    engineer.save()
    secret = factors.enrol_totp(engineer)

    client.post(reverse("account_reset_password"), {"email": engineer.email})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", mail.outbox[0].body)
    assert link is not None
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    new_password = "a-new-long-password-7341"
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link.group(1),
        {"password1": new_password, "password2": new_password},
    )
    assert done.status_code == 302
    assert "_auth_user_id" not in client.session  # reset does not log in
    assert client.get(reverse("fleet")).status_code == 302

    response = log_in(client, engineer, password=new_password)
    assert response["Location"] == reverse("mfa_authenticate")  # the factor is still asked
    assert "_auth_user_id" not in client.session
    pass_factor(client, totp_code(secret))
    assert client.get(reverse("fleet")).status_code == 200


def test_admin_resets_lost_factors_audited_and_sessions_end(client, admin_user, engineer):
    factors.enrol_totp(engineer)
    engineer_client = type(client)()
    engineer_client.force_login(engineer)
    factors.enrol_totp(admin_user)

    removed = factors.reset_factors(engineer, by=admin_user)

    assert removed == 2  # the TOTP and the recovery codes
    assert not Authenticator.objects.filter(user=engineer).exists()
    event = AuditEvent.objects.get(action="mfa.factor.reset")
    assert event.actor == admin_user and event.target_id == str(engineer.pk)
    assert "_auth_user_id" not in engineer_client.session  # the lost phone's session ended


# -- the demo -------------------------------------------------------------------------------


def test_seed_demo_enrols_staff_and_prints_their_secret_and_uri(client):
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("seed_demo", "--sites", "1", "--nodes-per-site", "1", stdout=out)
    lines = out.getvalue().splitlines()
    logins = {line.split()[0]: line.split() for line in lines if not line.startswith("#")}
    uris = [line.split(" ", 2)[2] for line in lines if line.startswith("# otpauth ")]

    engineer = logins["engineer"]
    assert engineer[1:3] == ["engineer", "heatsite-demo"] and len(engineer) == 4
    assert len(logins["admin"]) == 4 and len(logins["planner"]) == 3
    assert all(len(fields) == 3 for name, fields in logins.items() if name.startswith("partner"))
    secret = engineer[3]
    assert f"otpauth://totp/Heatsite:engineer?secret={secret}&issuer=Heatsite" in uris
    assert lines.index(next(line for line in lines if line.startswith("# otpauth"))) > max(
        lines.index(" ".join(fields)) for fields in logins.values()
    )  # the URIs come after the logins

    # A newcomer logs in with the printed secret; a second run keeps it.
    log_in(client, factors_user("engineer"), password="heatsite-demo")
    assert pass_factor(client, totp_code(secret)).status_code == 302
    assert client.get(reverse("fleet")).status_code == 200
    again = io.StringIO()
    call_command("seed_demo", "--sites", "1", "--nodes-per-site", "1", stdout=again)
    assert f"engineer engineer heatsite-demo {secret}" in again.getvalue()


def factors_user(username):
    from apps.accounts.models import User

    return User.objects.get(username=username)


def test_rotate_credentials_re_encrypts_factor_secrets(engineer, settings, capsys):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    secret = factors.enrol_totp(engineer)
    old_key = settings.CREDENTIAL_KEYS[0]
    settings.CREDENTIAL_KEYS = [Fernet.generate_key().decode(), old_key]
    call_command("rotate_credentials")
    assert "2 second-factor secret(s)" in capsys.readouterr().out

    settings.CREDENTIAL_KEYS = settings.CREDENTIAL_KEYS[:1]  # the old key is gone
    assert factors.totp_secret(engineer) == secret
    assert factors.verify_totp(engineer, totp_code(secret))
    assert AuditEvent.objects.filter(action="mfa.secrets.rotate").exists()


def test_admin_resets_a_users_factors_from_the_user_list(client, admin_user, engineer):
    from django.http import HttpRequest

    factors.enrol_totp(engineer)
    factors.enrol_totp(admin_user)
    client.force_login(admin_user)
    fake = HttpRequest()
    fake.session, fake.user = client.session, admin_user
    factors.record_factor(fake, admin_user, factors.TOTP)  # as if logged in through the code
    fake.session.save()

    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "reset_second_factors", "_selected_action": [engineer.pk]},
    )

    assert response.status_code == 302
    assert not factors.has_factor(engineer)
    assert factors.has_factor(admin_user)
    assert AuditEvent.objects.filter(action="mfa.factor.reset", actor=admin_user).count() == 1
