"""Logging in through the real door in a browser: the login form, then the second factor.

`log_in(page, base_url, username)` fills the login form and, for an account with a TOTP factor
(staff accounts get one here when they have none: their role requires it), the authenticator
code, computed from the stored secret. Nothing is shortcut: the password, the factor step,
the lockout and the code-once rule are the production ones.
"""

from __future__ import annotations

import time

from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from playwright.sync_api import Page

from apps.accounts.models import User
from apps.identity import factors
from tests.factories import PASSWORD

# (user id, counter) already typed in this process: each code is accepted once, so a second
# login in the same 30-s period uses the next period's code (the server accepts one step).
_typed: set[tuple[int, int]] = set()


def fresh_code(user: User, secret: str) -> str:
    now = int(time.time()) // 30
    for counter in (now, now + 1, now - 1):
        if (user.pk, counter) not in _typed:
            _typed.add((user.pk, counter))
            return format_hotp_value(hotp_value(secret, counter))
    raise AssertionError(f"{user} logged in more than three times in 30 s: no unused code left")


def staff_secret(user: User) -> str | None:
    """The user's TOTP secret, enrolling one when their role requires a factor."""
    secret = factors.totp_secret(user)
    if secret is None and factors.factor_required(user) and not factors.has_factor(user):
        secret = factors.enrol_totp(user)
    return secret


def log_in(page: Page, base_url: str, username: str, password: str = PASSWORD) -> None:
    user = User.objects.filter(username=username).first()
    secret = staff_secret(user) if user is not None else None
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    if secret is not None and user.check_password(password) and user.is_active:
        page.get_by_label("Authenticator code").fill(fresh_code(user, secret))
        page.get_by_role("button", name="Verify").click()
    # The page the door leads to, loaded: its scripts (htmx, the page's own) have bound their
    # handlers before the test types or clicks, however slow the machine.
    page.wait_for_load_state("load")
