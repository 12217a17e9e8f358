"""Login and second-factor routes (django-allauth under /accounts/, apps.identity).

Staff test clients pass the factor through the test-only shortcut (tests/conftest.py); what a
user without the factor gets is tested in tests/identity/test_mfa_enforcement.py. Views that
look up the user's own authenticator answer 404 when there is none.
"""

from django.urls import reverse

from tests.routes.common import LOGIN, ROLES, Route

ANYONE = dict.fromkeys(ROLES, 200)
SIGNED_IN = {"anonymous": LOGIN, "partner": 200, "planner": 200, "engineer": 200, "admin": 200}
OWN_FACTOR = {"anonymous": LOGIN, "partner": 404, "planner": 404, "engineer": 404, "admin": 404}
REDIRECT = dict.fromkeys(ROLES, 302)
ANONYMOUS_ONLY = {"anonymous": 200, "partner": 302, "planner": 302, "engineer": 302, "admin": 302}


def _url(name, **kwargs):
    return lambda o: reverse(name, kwargs=kwargs or None)


ROUTES: dict[str, Route] = {
    "account_login": Route(_url("account_login"), ANONYMOUS_ONLY),
    "account_logout": Route(_url("account_logout"), REDIRECT, method="post"),
    "account_inactive": Route(_url("account_inactive"), ANYONE),
    # Registration is closed: the page says so (and signed-in users go home).
    "account_signup": Route(_url("account_signup"), ANONYMOUS_ONLY),
    "account_reauthenticate": Route(_url("account_reauthenticate"), SIGNED_IN),
    # Login and re-authentication by e-mailed code are off: back to where one came from.
    "account_request_reauthentication_code": Route(
        _url("account_request_reauthentication_code"), REDIRECT
    ),
    "account_confirm_reauthentication_code": Route(
        _url("account_confirm_reauthentication_code"), REDIRECT
    ),
    "account_confirm_login_code": Route(_url("account_confirm_login_code"), REDIRECT),
    "account_email": Route(_url("account_email"), SIGNED_IN),
    "account_email_verification_sent": Route(_url("account_email_verification_sent"), ANYONE),
    "account_confirm_email": Route(_url("account_confirm_email", key="not-a-key"), ANYONE),
    "account_change_password": Route(_url("account_change_password"), SIGNED_IN),
    "account_set_password": Route(_url("account_set_password"), REDIRECT),
    "account_reset_password": Route(_url("account_reset_password"), ANYONE),
    "account_reset_password_done": Route(_url("account_reset_password_done"), ANYONE),
    "account_reset_password_from_key": Route(
        _url("account_reset_password_from_key", uidb36="1", key="not-a-key"), ANYONE
    ),
    "account_reset_password_from_key_done": Route(
        _url("account_reset_password_from_key_done"), ANYONE
    ),
    # allauth's list of one's own sessions (apps.identity's own page is "sessions").
    "usersessions_list": Route(_url("usersessions_list"), SIGNED_IN),
    "mfa_index": Route(_url("mfa_index"), SIGNED_IN),
    # Only in the middle of a login / re-authentication; otherwise back to the login.
    "mfa_authenticate": Route(_url("mfa_authenticate"), REDIRECT),
    "mfa_reauthenticate": Route(_url("mfa_reauthenticate"), REDIRECT),
    "mfa_reauthenticate_webauthn": Route(_url("mfa_reauthenticate_webauthn"), REDIRECT),
    "mfa_activate_totp": Route(_url("mfa_activate_totp"), SIGNED_IN),
    "mfa_deactivate_totp": Route(_url("mfa_deactivate_totp"), OWN_FACTOR),
    "mfa_view_recovery_codes": Route(_url("mfa_view_recovery_codes"), OWN_FACTOR),
    "mfa_generate_recovery_codes": Route(_url("mfa_generate_recovery_codes"), SIGNED_IN),
    "mfa_download_recovery_codes": Route(_url("mfa_download_recovery_codes"), OWN_FACTOR),
    "mfa_list_webauthn": Route(_url("mfa_list_webauthn"), SIGNED_IN),
    "mfa_add_webauthn": Route(_url("mfa_add_webauthn"), SIGNED_IN),
    # Another user's passkey (or none) is not found.
    "mfa_remove_webauthn": Route(
        lambda o: reverse("mfa_remove_webauthn", args=[99999]), OWN_FACTOR
    ),
    "mfa_edit_webauthn": Route(lambda o: reverse("mfa_edit_webauthn", args=[99999]), OWN_FACTOR),
}
