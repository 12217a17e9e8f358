"""A passkey, enrolled and used in a real Chromium through its virtual authenticator.

The DevTools protocol's WebAuthn domain (`WebAuthn.enable`, `WebAuthn.addVirtualAuthenticator`)
gives the headless browser a platform authenticator that signs without a person's touch. The
engineer logs in with password + TOTP, adds a passkey on the second-factor page, logs out, and
logs in again with password + the passkey; the server verifies the signature with the stored
public key (allauth, fido2). WebAuthn needs a domain: the live server is on `localhost`.
"""

from __future__ import annotations

import re

import pytest
from allauth.mfa.models import Authenticator
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.audit.models import AuditEvent
from tests.e2e.login import log_in
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_engineer_enrols_a_passkey_and_logs_in_with_it(live_server, page: Page):
    base = live_server.url
    assert "localhost" in base  # WebAuthn refuses IP addresses as relying party ids
    engineer = UserFactory(username="engineer-passkey", role=Role.ENGINEER)

    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]

    log_in(page, base, engineer.username)  # password + TOTP (enrolled by the helper)
    expect(page.get_by_test_id("user-menu")).to_be_visible()

    page.goto(f"{base}/accounts/2fa/webauthn/add/")
    page.get_by_label("Name").fill("Laptop passkey")
    page.get_by_role("button", name="Add").click()
    expect(page).not_to_have_url(re.compile(r"/webauthn/add/"))
    assert Authenticator.objects.filter(user=engineer, type="webauthn").count() == 1
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(credentials["credentials"]) == 1
    assert AuditEvent.objects.filter(
        action="mfa.factor.add", target_id=str(engineer.pk), detail__type="webauthn"
    ).exists()

    # Log out, then log in with the password and the passkey (no code typed).
    page.context.clear_cookies()
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(engineer.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_label("Authenticator code")).to_be_visible()
    # allauth binds the passkey button on DOMContentLoaded: a click before it does nothing
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Use a passkey").click()

    expect(page).to_have_url(f"{base}/sites/")
    expect(page.get_by_test_id("user-menu")).to_be_visible()
    passkey = Authenticator.objects.get(user=engineer, type="webauthn")
    assert passkey.last_used_at is not None
    sign_count = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert sign_count["credentials"][0]["signCount"] >= 1
