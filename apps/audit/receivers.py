"""Audit records for authentication, which happens inside django.contrib.auth."""

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record


def logged_in(sender, request, user, **kwargs):
    audit_record(actor=user, action="auth.login", target=user)


def logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(actor=user, action="auth.logout", target=user)


def login_failed(sender, credentials, request=None, **kwargs):
    audit_record(
        actor=None,
        action="auth.login",
        result=AuditEvent.Result.REFUSED,
        detail={"username": str(credentials.get("username", ""))[:150]},
    )
