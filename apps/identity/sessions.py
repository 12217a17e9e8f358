"""Ending a person's sessions everywhere: browser sessions, API tokens, open websockets.

`end_all()` is what deactivating a user, lowering their role, changing their factors or an
administrator's "end all sessions" call. Websocket consumers (apps.core.consumers) join the
channel-layer group `user.<id>`; the `session.revoked` message sent there on commit makes each
close (consoles leave the broker and close their session record).
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

REVOKED_MESSAGE = "session.revoked"


def user_group(user_id: int) -> str:
    """The channel-layer group every websocket of user `user_id` joins."""
    return f"user.{user_id}"


def _session_store(session_key: str | None = None) -> Any:
    return import_module(settings.SESSION_ENGINE).SessionStore(session_key)


def _database_session_keys(user: Any) -> list[str]:
    """Keys of the user's live sessions in the database session store (the tracked list misses
    sessions made before tracking, e.g. by `Client.force_login`)."""
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return []
    from django.contrib.auth import SESSION_KEY
    from django.contrib.sessions.models import Session

    keys = []
    wanted = str(user.pk)
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get(SESSION_KEY, "")) == wanted:
            keys.append(session.session_key)
    return keys


def session_keys(user: Any) -> list[str]:
    """Every live session key of `user` we can find."""
    keys: set[str] = set(_database_session_keys(user))
    if apps.is_installed("allauth.usersessions"):
        from allauth.usersessions.models import UserSession

        keys.update(
            UserSession.objects.filter(user_id=user.pk).values_list("session_key", flat=True)
        )
    return sorted(keys)


def end_session(user: Any, session_key: str) -> None:
    """Ends one session of `user` (its store entry and its tracked row)."""
    _session_store().delete(session_key)
    if apps.is_installed("allauth.usersessions"):
        from allauth.usersessions.models import UserSession

        UserSession.objects.filter(user_id=user.pk, session_key=session_key).delete()


def _revoke_tokens(user: Any, *, reason: str, by: Any) -> int:
    try:
        from apps.tokens.services import revoke_all
    except ImportError:  # a deployment without apps.tokens has no tokens to revoke
        return 0
    return int(revoke_all(user, reason=reason, by=by))


def close_websockets(user_id: int, *, reason: str, keep_session: str | None = None) -> None:
    """Tells every open websocket of the user to close (all but those of `keep_session`)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            user_group(user_id),
            {"type": REVOKED_MESSAGE, "reason": reason, "keep_session": keep_session or ""},
        )
    except Exception:  # a channel-layer outage must not undo the session ending
        logger.exception("could not tell user %s's websockets to close", user_id)


def end_all(user: Any, *, reason: str, by: Any = None, keep_session: str | None = None) -> None:
    """Ends all of `user`'s sessions, revokes their API tokens and closes their open websockets
    and consoles (within seconds: the message is sent as the transaction commits). Audited.
    `keep_session`: a session key left alive (the person changing their own factors)."""
    from apps.audit.services import audit_record

    ended = 0
    for key in session_keys(user):
        if keep_session and key == keep_session:
            continue
        end_session(user, key)
        ended += 1
    tokens = _revoke_tokens(user, reason=reason, by=by)
    audit_record(
        actor=by,
        action="session.end_all",
        target=user,
        detail={"reason": reason, "sessions": ended, "tokens": tokens},
    )
    user_id = user.pk
    transaction.on_commit(
        lambda: close_websockets(user_id, reason=reason, keep_session=keep_session)
    )


def sessions_of(user: Any) -> list[Any]:
    """The user's live browser sessions (allauth's tracked list, ended ones dropped), newest
    first: address, browser, started, last seen."""
    from allauth.usersessions.models import UserSession

    rows = UserSession.objects.purge_and_list(user)
    return sorted(rows, key=lambda row: row.last_seen_at, reverse=True)


def end_own(user: Any, pk: int, *, by: Any) -> bool:
    """Ends one of the user's own sessions by its row id; False when it is not theirs."""
    from allauth.usersessions.models import UserSession

    from apps.audit.services import audit_record

    row = UserSession.objects.filter(user_id=user.pk, pk=pk).first()
    if row is None:
        return False
    key = row.session_key
    end_session(user, key)
    audit_record(actor=by, action="session.end", target=user, detail={"ip": row.ip})
    user_id = user.pk
    transaction.on_commit(lambda: close_session_websockets(user_id, key, reason="session ended"))
    return True


def close_session_websockets(user_id: int, session_key: str, *, reason: str) -> None:
    """Closes the websockets of one session of the user."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            user_group(user_id),
            {"type": REVOKED_MESSAGE, "reason": reason, "only_session": session_key},
        )
    except Exception:
        logger.exception("could not tell user %s's websockets to close", user_id)
