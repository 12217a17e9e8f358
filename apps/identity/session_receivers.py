"""When a person's access shrinks, their sessions end (ASVS 7.4.2, 8.3.2).

Deactivating a user, a role change that takes any action away (compared through the policy
table), a partner moved to another organisation, or a second factor added or removed: their
sessions end, their API tokens are revoked and their open websockets and consoles close
(`apps.identity.sessions.end_all`). The user-model receivers cover every path (admin, shell,
services); they only compare and delegate.
"""

from __future__ import annotations

from typing import Any

from apps.identity import sessions

_BEFORE = "_identity_access_before"


def _access(user: Any) -> tuple[bool, str, Any]:
    return (bool(user.is_active), str(user.role), user.organisation_id)


_WATCHED = frozenset({"is_active", "role", "organisation", "organisation_id"})


def user_pre_save(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw or instance.pk is None:
        return
    if update_fields is not None and not _WATCHED & set(update_fields):
        return  # e.g. last_login at every login: nothing that shrinks access
    before = sender.objects.filter(pk=instance.pk).values_list(
        "is_active", "role", "organisation_id"
    )
    row = before.first()
    if row is not None:
        setattr(instance, _BEFORE, (bool(row[0]), str(row[1]), row[2]))


def shrinks(before: tuple[bool, str, Any], after: tuple[bool, str, Any]) -> str | None:
    """Why going from `before` to `after` (active, role, organisation) ends sessions, or None."""
    from apps.accounts.policy import POLICY

    was_active, old_role, old_org = before
    active, role, org = after
    if was_active and not active:
        return "user deactivated"
    if not POLICY.get(old_role, frozenset()) <= POLICY.get(role, frozenset()):
        return f"role changed from {old_role} to {role}"
    if old_org != org and old_org is not None:
        return "organisation changed"
    return None


def user_post_save(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if created or before is None:
        return
    reason = shrinks(before, _access(instance))
    if reason is not None:
        sessions.end_all(instance, reason=reason)


def _keep(request: Any) -> str | None:
    session = getattr(request, "session", None)
    return getattr(session, "session_key", None)


def factor_added(sender: Any, request: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    # the person enrolling stays logged in here; every other session of theirs ends
    sessions.end_all(
        user, reason=f"factor added ({authenticator.type})", by=user, keep_session=_keep(request)
    )


def factor_removed(sender: Any, request: Any, user: Any, authenticator: Any, **kwargs: Any) -> None:
    actor = getattr(request, "user", None) if request is not None else None
    keep = _keep(request) if actor is not None and actor.pk == user.pk else None
    sessions.end_all(
        user,
        reason=f"factor removed ({authenticator.type})",
        by=actor if actor is not None and actor.is_authenticated else None,
        keep_session=keep,
    )


def reauthenticated(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """allauth's own re-authentication (a passkey, a recovery code): a new session id too."""
    if request is not None and kwargs.get("reauthenticated") and request.session.session_key:
        request.session.cycle_key()


def connect() -> None:
    from allauth.mfa import signals as mfa_signals
    from django.contrib.auth import get_user_model
    from django.db.models.signals import post_save, pre_save

    user_model = get_user_model()
    pre_save.connect(user_pre_save, sender=user_model, dispatch_uid="identity-user-pre-save")
    post_save.connect(user_post_save, sender=user_model, dispatch_uid="identity-user-post-save")
    mfa_signals.authenticator_added.connect(factor_added, dispatch_uid="identity-sessions-add")
    mfa_signals.authenticator_removed.connect(
        factor_removed, dispatch_uid="identity-sessions-remove"
    )
    mfa_signals.authenticator_used.connect(reauthenticated, dispatch_uid="identity-reauth-cycle")
