"""Lockout (issue 13, item 3): 5 failures per username / 15 min, 20 per address; audited."""

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.identity import lockout
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _login(username, password, ip="10.0.0.1", path="/login/"):
    request = RequestFactory().post(path, REMOTE_ADDR=ip)
    return authenticate(request, username=username, password=password)


def test_five_failures_refuse_the_username_even_with_the_right_password(engineer, clock):
    for _ in range(4):
        assert _login("engineer", "wrong") is None
    assert _login("engineer", PASSWORD) == engineer  # 4 failures: not yet
    for _ in range(5):
        _login("engineer", "wrong")
    assert _login("engineer", PASSWORD) is None
    assert "locked" in lockout.refusal("engineer", "10.9.9.9")


def test_a_complete_login_before_the_limit_starts_the_count_again(client, engineer):
    for _ in range(4):
        _login("engineer", "wrong", ip="127.0.0.1")
    assert client.login(username="engineer", password=PASSWORD)  # user_logged_in
    for _ in range(4):
        _login("engineer", "wrong")
    assert _login("engineer", PASSWORD) == engineer


def test_a_right_password_alone_does_not_start_the_count_again(engineer):
    # the factor step is still to come: a known password must not buy unlimited code guesses
    for _ in range(4):
        _login("engineer", "wrong")
    assert _login("engineer", PASSWORD) == engineer
    _login("engineer", "wrong")
    assert _login("engineer", PASSWORD) is None


@pytest.mark.real_factor
def test_wrong_codes_at_the_factor_step_lock_and_drop_the_half_done_login(client, engineer):
    from tests.identity.helpers import enrol_totp, totp_code

    secret = enrol_totp(engineer)
    response = client.post(reverse("login"), {"login": "engineer", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    for _ in range(5):
        client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert lockout.refusal("engineer", "10.9.9.9") is not None
    # the right code now: the half-done login is gone, nobody is logged in
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert "_auth_user_id" not in client.session


def test_another_user_is_unaffected_by_a_lock(engineer, planner):
    for _ in range(5):
        _login("engineer", "wrong", ip="10.0.0.1")
    assert _login("engineer", PASSWORD, ip="10.0.0.2") is None
    assert _login("planner", PASSWORD, ip="10.0.0.2") == planner
    assert _login("planner", PASSWORD, ip="10.0.0.1") == planner


def test_the_lock_lasts_the_window_then_ends(engineer, clock):
    for _ in range(5):
        _login("engineer", "wrong")
    clock.advance(14 * 60)
    assert _login("engineer", PASSWORD) is None
    clock.advance(2 * 60)
    assert _login("engineer", PASSWORD) == engineer


def test_failures_older_than_the_window_do_not_count(engineer, clock):
    for _ in range(4):
        _login("engineer", "wrong")
    clock.advance(16 * 60)
    _login("engineer", "wrong")
    assert _login("engineer", PASSWORD) == engineer


def test_usernames_are_counted_case_insensitively(engineer):
    for name in ("Engineer", "ENGINEER", "engineer ", "engineer", "eNgineer"):
        _login(name, "wrong")
    assert _login("engineer", PASSWORD) is None


def test_twenty_failures_from_one_address_refuse_that_address(engineer, planner):
    for n in range(20):
        _login(f"nobody{n}", "wrong", ip="192.0.2.7")
    assert _login("planner", PASSWORD, ip="192.0.2.7") is None
    assert "address" in lockout.refusal("planner", "192.0.2.7")
    assert _login("planner", PASSWORD, ip="192.0.2.8") == planner


def test_factor_codes_count_like_passwords(engineer):
    for _ in range(3):
        _login("engineer", "wrong")
    lockout.failed("engineer", "10.0.0.1", channel="otp")
    lockout.failed("engineer", "10.0.0.1", channel="otp")
    assert _login("engineer", PASSWORD) is None


def test_every_door_counts_towards_one_lock(engineer):
    _login("engineer", "wrong", path="/login/")
    _login("engineer", "wrong", path="/admin/login/")
    _login("engineer", "wrong", path="/api/v1/auth/token/")
    lockout.failed("engineer", "10.0.0.1", channel="api")
    lockout.failed("engineer", "10.0.0.1", channel="otp")
    assert lockout.refusal("engineer", "10.0.0.1") is not None


def test_an_unknown_channel_is_a_programming_error():
    with pytest.raises(ValueError, match="channel"):
        lockout.failed("x", "10.0.0.1", channel="carrier-pigeon")


def test_each_lock_is_audited_once_with_its_door(engineer):
    for _ in range(8):
        _login("engineer", "wrong", path="/admin/login/", ip="10.0.0.3")
    locks = AuditEvent.objects.filter(action="identity.lock")
    assert locks.count() == 1
    lock = locks.get()
    assert lock.target_id == str(engineer.pk)
    assert lock.result == AuditEvent.Result.REFUSED
    assert lock.detail["channel"] == "admin"
    assert lock.detail["subject"] == "username"
    assert "wrong" not in str(lock.detail)


def test_unlock_lifts_the_lock_and_is_audited(engineer, admin_user):
    for _ in range(5):
        _login("engineer", "wrong")
    lockout.unlock(username="engineer", by=admin_user)
    assert _login("engineer", PASSWORD) == engineer
    unlock = AuditEvent.objects.get(action="identity.unlock")
    assert unlock.actor == admin_user
    assert unlock.detail == {"subject": "username", "username": "engineer", "was_locked": True}


def test_unlock_needs_a_subject(admin_user):
    with pytest.raises(ValueError):
        lockout.unlock(by=admin_user)


def test_the_login_page_refuses_a_username_locked_at_another_door_and_says_why(client, engineer):
    for _ in range(5):
        lockout.failed("engineer", "203.0.113.9", channel="api")
    response = client.post(reverse("login"), {"login": "engineer", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    assert "Too many failed sign-ins for this account" in response.content.decode()


def test_wrong_passwords_on_the_login_page_lock_the_username(client, engineer):
    for _ in range(5):
        client.post(reverse("login"), {"login": "engineer", "password": "wrong"})
    assert lockout.refusal("engineer", "203.0.113.9") is not None


# -- the administrators' lockout page ---------------------------------------------------------


def test_admin_sees_locks_and_lifts_an_address_lock(client, admin_user):
    for n in range(20):
        lockout.failed(f"u{n}", "198.51.100.4", channel="web")
    client.force_login(admin_user)
    page = client.get(reverse("lockouts"))
    assert page.status_code == 200
    assert "198.51.100.4" in page.content.decode()
    response = client.post(reverse("lockouts"), {"ip": "198.51.100.4"})
    assert response.status_code == 302
    assert lockout.refusal("someone", "198.51.100.4") is None
    assert AuditEvent.objects.filter(action="identity.unlock", actor=admin_user).exists()


def test_unlock_form_without_a_subject_is_a_form_error(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("lockouts"), {"username": "", "ip": ""})
    assert response.status_code == 400
    assert "Give a username" in response.content.decode()


@pytest.mark.parametrize("role", ["engineer", "planner", "partner"])
def test_only_admins_reach_the_lockout_page(client, users, role):
    client.force_login(users[role])
    assert client.get(reverse("lockouts")).status_code == 403
    assert client.post(reverse("lockouts"), {"username": "x"}).status_code == 403


def test_a_new_user_with_the_locked_name_is_also_refused():
    for _ in range(5):
        _login("newcomer", "wrong")
    UserFactory(username="newcomer")
    assert _login("newcomer", PASSWORD) is None
