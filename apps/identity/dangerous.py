"""The one list of dangerous endpoints: each needs a second factor used within
`HEATSITE_REAUTH_SECONDS` (apps.identity.recent).

`apps.identity.guards.RecentFactorMiddleware` enforces this list for every page, htmx fragment
and session-authenticated API call (API-token calls are governed by the token's `operate`
scope instead); the console websocket checks it at connect. `tests/identity/test_dangerous.py`
walks the list: every entry is refused at minute 6 and allowed after re-authentication, and a
URL named here that no longer exists fails the test. A new dangerous endpoint is one line here.

Not here on purpose: pausing or aborting a firmware campaign and soft actions that stop harm
(they must stay one click away), reads, and the API token endpoint (it is a login with its own
password and code).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dangerous:
    """One dangerous endpoint: URL name (with namespace), HTTP method, what it does, kind."""

    url_name: str
    method: str
    what: str
    kind: str  # "page" (form or htmx), "api" (session-authenticated API), "ws" (websocket)
    # Factor enrolment: a user with no factor yet enrols without one (the first enrolment).
    open_without_factor: bool = False


DANGEROUS: tuple[Dangerous, ...] = (
    # power and boot
    Dangerous("node-power", "POST", "power action on a node", "page"),
    Dangerous("site-power", "POST", "power action on a site's nodes", "page"),
    Dangerous("node-boot-device", "POST", "boot device change", "page"),
    Dangerous("api:node-power", "POST", "power action on a node", "api"),
    Dangerous("api:site-power", "POST", "power action on a site's nodes", "api"),
    Dangerous("api:node-boot-device", "POST", "boot device change", "api"),
    # serial console
    Dangerous("node-console", "GET", "opening a node's serial console", "page"),
    Dangerous("ws-node-console", "WS", "the serial console websocket", "ws"),
    # BIOS and BMC
    Dangerous("node-bios-change", "POST", "BIOS settings change", "page"),
    Dangerous("api:node-bios", "PATCH", "BIOS settings change", "api"),
    Dangerous("node-bmc-password-rotate", "POST", "BMC password rotation", "page"),
    Dangerous("api:node-bmc-password-rotate", "POST", "BMC password rotation", "api"),
    # firmware
    Dangerous("api:node-firmware-update", "POST", "flashing a node's firmware", "api"),
    Dangerous("firmware-campaign-approve", "POST", "firmware campaign approval", "page"),
    Dangerous("firmware-campaign-start", "POST", "firmware campaign start", "page"),
    Dangerous("firmware-campaign-resume", "POST", "firmware campaign resume", "page"),
    Dangerous("firmware-campaign-rollback", "POST", "firmware campaign rollback", "page"),
    Dangerous("api:firmware-campaign-approve", "POST", "firmware campaign approval", "api"),
    Dangerous("api:firmware-campaign-start", "POST", "firmware campaign start", "api"),
    Dangerous("api:firmware-campaign-resume", "POST", "firmware campaign resume", "api"),
    Dangerous("api:firmware-campaign-rollback", "POST", "firmware campaign rollback", "api"),
    # API tokens
    Dangerous("token-create", "POST", "creating an API token", "page"),
    Dangerous("api:token-list", "POST", "creating an API token", "api"),
    # own account: factors, e-mail, password
    Dangerous("mfa_activate_totp", "POST", "adding a TOTP factor", "page", True),
    Dangerous("mfa_deactivate_totp", "POST", "removing the TOTP factor", "page"),
    Dangerous("mfa_add_webauthn", "POST", "adding a passkey", "page", True),
    Dangerous("mfa_remove_webauthn", "POST", "removing a passkey", "page"),
    Dangerous("mfa_generate_recovery_codes", "POST", "new recovery codes", "page", True),
    Dangerous("account_change_password", "POST", "changing one's password", "page"),
    Dangerous("account_email", "POST", "changing one's e-mail", "page"),
    # admin: users' roles, e-mail, passwords, activation
    Dangerous("admin:accounts_user_add", "POST", "creating a user with a role", "page"),
    Dangerous("admin:accounts_user_change", "POST", "changing a user's role or e-mail", "page"),
    Dangerous("admin:accounts_user_changelist", "POST", "admin actions on users", "page"),
    Dangerous("admin:auth_user_password_change", "POST", "setting a user's password", "page"),
)

_BY_NAME = {(d.url_name, d.method): d for d in DANGEROUS}


def lookup(view_name: str | None, method: str) -> Dangerous | None:
    """The entry for a resolved URL name and an HTTP method, if it is dangerous."""
    if not view_name:
        return None
    return _BY_NAME.get((view_name, method.upper()))
