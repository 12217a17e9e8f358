"""Websocket plumbing: every consumer authenticates and authorises through `access`."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.identity.sessions import user_group

# Close codes the browser can tell apart (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class AuthorisedConsumer(AsyncJsonWebsocketConsumer):
    """Accepts only when `authorise()` returns the groups to join; forwards `push` events."""

    # Subclasses define `async def authorise(self, user) -> list[str]`, raising PermissionError
    # (403) or LookupError (404) through `sync_authorise`.
    groups_joined: list[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or await _session_over(self.scope):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            self.groups_joined = await self.authorise(user)
        except PermissionError as refusal:
            await self.close(code=getattr(refusal, "close_code", CLOSE_FORBIDDEN))
            return
        except LookupError:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        # Every socket of a user also joins `user.<id>`: ending their sessions closes it
        # (apps.identity.sessions.end_all sends `session.revoked` there).
        self.groups_joined = [*self.groups_joined, user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Live pages only listen; anything sent is ignored rather than trusted.
        return

    async def push(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])

    async def session_revoked(self, message: dict[str, Any]) -> None:
        """The user's sessions were ended (all, all but one, or just this one): close."""
        session = self.scope.get("session")
        key = getattr(session, "session_key", None) or ""
        if message.get("keep_session") and message["keep_session"] == key:
            return
        if message.get("only_session") and message["only_session"] != key:
            return
        await self.send_json({"type": "revoked", "text": "Your session was ended."})
        await self.session_ended(str(message.get("reason", "")))
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def session_ended(self, reason: str) -> None:
        """Hook for consumers with something to release before the socket closes."""


@database_sync_to_async
def _session_over(scope: dict[str, Any]) -> bool:
    """The session passed its idle or absolute limit (apps.identity.session_limits)."""
    from apps.identity.session_limits import expired

    session = scope.get("session")
    return session is not None and expired(session, scope["user"]) is not None


def sync_authorise(func):
    """Runs an access check in a thread, turning Http404/PermissionDenied into close codes."""
    from django.core.exceptions import PermissionDenied
    from django.http import Http404

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Http404 as exc:
            raise LookupError(str(exc)) from exc
        except PermissionDenied as exc:
            raise PermissionError(str(exc)) from exc

    return database_sync_to_async(wrapper)
