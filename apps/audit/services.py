"""Writing the audit trail. Every state-changing service calls `audit_record`.

Each record is hash-chained to the one before (apps.audit.chain) and says how its actor
authenticated (apps.audit.context). The action names of authentication events are listed in
apps.audit.vocabulary."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from apps.audit import chain, context
from apps.audit.models import AuditEvent
from apps.core.logging import redact

_SECRET_KEYS = {"password", "bmc_password", "token", "secret", "bmc_password_encrypted"}


def _clean(detail: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in detail.items():
        if key in _SECRET_KEYS:
            cleaned[key] = "***"
        elif isinstance(value, dict):
            cleaned[key] = _clean(value)
        elif isinstance(value, str):
            cleaned[key] = redact(value)
        else:
            cleaned[key] = value
    return cleaned


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    result: str = AuditEvent.Result.OK,
    site: Any = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Stores one audit event; secrets in `detail` are masked before they are written."""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    if site is None and target is not None:
        site = getattr(target, "site", None) if not hasattr(target, "nodes") else target
    event = AuditEvent(
        actor=actor if authenticated else None,
        actor_name=actor.get_username() if authenticated else "system",
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        site=site,
        result=result,
        detail=_clean(detail or {}),
        auth=context.how(actor if authenticated else None)[:120],
    )
    with transaction.atomic():
        return chain.append(event)
