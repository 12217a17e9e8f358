"""Second factors: who must have one, whether a session passed one, and how it logged in.

The factors themselves (TOTP, WebAuthn passkeys, recovery codes) are django-allauth's MFA
(decision 22). This module is the one place the rest of Heatsite asks about them:

- `factor_required(user)`: the user's role is in `HEATSITE_MFA_REQUIRED_ROLES`;
- `has_factor(user)`: a TOTP or a passkey is enrolled (recovery codes alone are not a factor);
- `session_verified(session)`: this session passed a factor (at login, or at enrolment);
- `refusal(user, session)`: why a request on this session may not go on, or None;
- `verify_totp(user, code)`: a current TOTP code, each code accepted once (API token endpoint);
- `login_method(request)`: "password+totp", "password+webauthn", "password+recovery_code",
  "password" (no factor) or "" (not logged in), for the audit trail.

What a session went through is allauth's record of authentication methods in the session
(`account_authentication_methods`), which its login flow and our enrolment hook write.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

AUTHENTICATION_METHODS_SESSION_KEY = "account_authentication_methods"  # allauth's key

TOTP = "totp"
WEBAUTHN = "webauthn"
RECOVERY_CODES = "recovery_codes"
FACTOR_TYPES = (TOTP, WEBAUTHN)

_METHOD_NAMES = {
    TOTP: "password+totp",
    WEBAUTHN: "password+webauthn",
    RECOVERY_CODES: "password+recovery_code",
}

ENROL = "Your role requires a second factor: enrol an authenticator app or a passkey first."
VERIFY = "This session did not pass the second factor: log in again."


def required_roles() -> frozenset[str]:
    return frozenset(getattr(settings, "HEATSITE_MFA_REQUIRED_ROLES", ("engineer", "admin")))


def factor_required(user: Any) -> bool:
    """Whether the user's role must use a second factor."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return getattr(user, "role", None) in required_roles()


def has_factor(user: Any) -> bool:
    """Whether the user has a TOTP authenticator or a passkey enrolled."""
    from allauth.mfa.models import Authenticator

    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return Authenticator.objects.filter(user_id=user.pk, type__in=FACTOR_TYPES).exists()


def _records(session: Any) -> list[dict]:
    if session is None:
        return []
    try:
        records = session.get(AUTHENTICATION_METHODS_SESSION_KEY) or []
    except (AttributeError, TypeError):
        return []
    return [r for r in records if isinstance(r, dict)]


def _factor_record(session: Any) -> dict | None:
    """The newest factor this session passed, or None."""
    for record in reversed(_records(session)):
        if record.get("method") == "mfa":
            return record
    return None


def session_verified(session: Any) -> bool:
    """Whether the session passed a second factor (login, re-authentication or enrolment)."""
    return _factor_record(session) is not None


def refusal(user: Any, session: Any) -> str | None:
    """Why this user on this session may not use Heatsite yet, or None when they may.

    `ENROL` when their role requires a factor they have not enrolled, `VERIFY` when they have
    one but the session never passed it (a login that went around the factor).
    """
    if not factor_required(user) or session_verified(session):
        return None
    return VERIFY if has_factor(user) else ENROL


def record_factor(request: Any, user: Any, factor_type: str, **extra: Any) -> None:
    """Notes in the session that `user` just passed `factor_type`, and tells the re-auth clock.

    allauth's own login and re-authentication flows already write their record; this is for the
    moments it does not (a factor enrolled, which proves possession) and for the test shortcut.
    """
    records = _records(request.session)
    records.append(
        {"method": "mfa", "at": time.time(), "type": factor_type, "user_id": user.pk, **extra}
    )
    request.session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    mark_recent(request, factor_type)


def mark_recent(request: Any, factor_type: str) -> None:
    """Starts the re-authentication window (apps.identity.recent, when installed)."""
    try:
        from apps.identity import recent
    except ImportError:  # the re-authentication module is not there yet
        return
    mark = getattr(recent, "mark", None)
    if mark is not None:
        mark(request, _METHOD_NAMES.get(factor_type, factor_type))


def verify_totp(user: Any, code: str) -> bool:
    """Whether `code` is the user's current TOTP code; each code is accepted once."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP as AllauthTOTP

    code = (code or "").strip().replace(" ", "")
    if not code.isdigit() or user is None or user.pk is None:
        return False
    authenticator = Authenticator.objects.filter(user_id=user.pk, type=TOTP).first()
    if authenticator is None:
        return False
    if not AllauthTOTP(authenticator).validate_code(code):
        return False
    authenticator.record_usage()
    return True


def enrol_totp(user: Any, secret: str | None = None) -> str:
    """Gives `user` a TOTP authenticator (and recovery codes); returns the base32 secret.

    For `seed_demo` and tests: people enrol through the enrolment page, which proves they hold
    the secret by asking for a code."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP as AllauthTOTP
    from allauth.mfa.totp.internal.auth import generate_totp_secret

    secret = secret or generate_totp_secret()
    Authenticator.objects.filter(user_id=user.pk, type=TOTP).delete()
    AllauthTOTP.activate(user, secret)
    if not Authenticator.objects.filter(user_id=user.pk, type=RECOVERY_CODES).exists():
        RecoveryCodes.activate(user)
    return secret


def reset_factors(user: Any, *, by: Any) -> int:
    """Removes all of `user`'s factors and recovery codes (they lost them), audited; their
    sessions end and their tokens are revoked. At their next login a role that requires a
    factor enrols a new one before anything else. Returns how many were removed."""
    from allauth.mfa.models import Authenticator
    from django.db import transaction

    from apps.audit.services import audit_record
    from apps.identity import sessions

    with transaction.atomic():
        rows = Authenticator.objects.filter(user_id=user.pk)
        types = sorted(set(rows.values_list("type", flat=True)))
        removed, _ = rows.delete()
        audit_record(actor=by, action="mfa.factor.reset", target=user, detail={"removed": types})
        sessions.end_all(user, reason="second factors reset by an administrator", by=by)
    return removed


def rotate_secrets() -> int:
    """Re-encrypts every TOTP secret and recovery-code seed under the newest credential key
    (`manage.py rotate_credentials`). Returns how many were re-encrypted."""
    from allauth.mfa.models import Authenticator
    from django.db import transaction

    from apps.audit.services import audit_record
    from apps.core import crypto

    fields = {TOTP: "secret", RECOVERY_CODES: "seed"}
    count = 0
    with transaction.atomic():
        rows = Authenticator.objects.select_for_update().filter(type__in=fields)
        for authenticator in rows:
            field = fields[authenticator.type]
            authenticator.data[field] = crypto.rotate(authenticator.data[field])
            authenticator.save(update_fields=["data"])
            count += 1
        audit_record(actor=None, action="mfa.secrets.rotate", detail={"count": count})
    return count


def totp_secret(user: Any) -> str | None:
    """The user's TOTP secret in clear (demo logins, tests), or None without TOTP."""
    from allauth.mfa.models import Authenticator
    from allauth.mfa.utils import decrypt

    authenticator = Authenticator.objects.filter(user_id=user.pk, type=TOTP).first()
    return decrypt(authenticator.data["secret"]) if authenticator is not None else None


def totp_uri(user: Any, secret: str) -> str:
    """The otpauth:// URI of a secret, for authenticator apps."""
    from urllib.parse import quote, urlencode

    params = {"secret": secret, "issuer": "Heatsite"}
    return f"otpauth://totp/Heatsite:{quote(user.get_username())}?{urlencode(params)}"


def login_method(request: Any) -> str:
    """How the request's session logged in, for the audit trail."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    record = _factor_record(getattr(request, "session", None))
    if record is None:
        return "password"
    return _METHOD_NAMES.get(record.get("type", ""), "password+" + str(record.get("type")))
