"""allauth MFA signals: the enrolment counts as passing the factor, and every change is audited."""

from __future__ import annotations

from apps.audit.services import audit_record
from apps.identity import factors


def authenticator_added(sender, request, user, authenticator, **kwargs) -> None:
    # Enrolling proved possession of the factor (a TOTP code typed, a passkey signed): the
    # session has now passed it, and the role's "factor first" redirect ends here.
    if request is not None and authenticator.type in factors.FACTOR_TYPES:
        factors.record_factor(request, user, authenticator.type, id=authenticator.pk, enrolled=True)
    audit_record(
        actor=user, action="mfa.factor.add", target=user, detail={"type": authenticator.type}
    )


def authenticator_removed(sender, request, user, authenticator, **kwargs) -> None:
    audit_record(
        actor=user, action="mfa.factor.remove", target=user, detail={"type": authenticator.type}
    )


def authenticator_reset(sender, request, user, **kwargs) -> None:
    audit_record(actor=user, action="mfa.recovery_codes.regenerate", target=user)


def authenticator_used(sender, request, user, authenticator, **kwargs) -> None:
    if request is not None:
        factors.mark_recent(request, authenticator.type)
    if authenticator.type == factors.RECOVERY_CODES:
        audit_record(
            actor=user,
            action="mfa.recovery_code.use",
            target=user,
            detail={"reauthenticated": bool(kwargs.get("reauthenticated"))},
        )
