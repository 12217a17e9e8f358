"""How the actor of an audit record authenticated: the request being served, remembered.

`AuditContextMiddleware` keeps the current request in a context variable for the length of the
request; `how(actor)` reads it:

- ``token:<id> <prefix> (<scope>)``: an API token (apps.tokens.auth puts it on the user and the
  request);
- ``session:<method>``: a browser session, with the factor it passed at login
  (``apps.identity.factors.login_method``: "password+totp", "password+webauthn", ...);
- ``anonymous``: a request with no signed-in user (a failed login, the token endpoint);
- ``system``: no request at all (Celery tasks, management commands, the shell).

Websockets (consoles, live pages) get the same through `AuditContextWebsocketMiddleware`.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

_request: ContextVar[Any] = ContextVar("heatsite_audit_request", default=None)


class AuditContextMiddleware:
    """Remembers the request for `how()`; after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        reset = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(reset)


class _ScopeRequest:
    """What `how()` reads of a request, taken from a websocket's scope (user, session)."""

    api_token = None

    def __init__(self, scope: dict):
        self.scope = scope

    @property
    def user(self) -> Any:
        return self.scope.get("user")

    @property
    def session(self) -> Any:
        return self.scope.get("session")


class AuditContextWebsocketMiddleware:
    """The same for websockets (consoles): inside Channels' AuthMiddlewareStack."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        reset = _request.set(_ScopeRequest(scope))
        try:
            return await self.inner(scope, receive, send)
        finally:
            _request.reset(reset)


def _describe_token(token: Any) -> str:
    scope = getattr(token, "highest_scope", "")
    return f"token:{token.pk} {getattr(token, 'prefix', '')} ({scope})"


def how(actor: Any) -> str:
    token = getattr(actor, "api_token", None)
    if token is not None:
        return _describe_token(token)
    request = _request.get()
    if request is None:
        return "system"
    token = getattr(request, "api_token", None)
    if token is not None:
        return _describe_token(token)
    user = getattr(request, "user", None)
    if (
        actor is None
        or user is None
        or not getattr(user, "is_authenticated", False)
        or user.pk != actor.pk
    ):
        return "anonymous"  # the request is not signed in as the actor (a failed login, a lock)
    try:
        from apps.identity.factors import login_method

        method = login_method(request) or "password"
    except Exception:  # the record is written even if the method cannot be told
        method = "unknown"
    return f"session:{method}"
