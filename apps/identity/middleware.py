"""One door for sessions: a role that requires a second factor gets nothing without one.

HTTP (`FactorRequiredMiddleware`): a page redirects to enrolment (or, when the session went
around an enrolled factor, ends the session and asks to log in again); an htmx request gets the
same redirect as `HX-Redirect`; the API answers 403 `{"detail": ...}`. API-token requests
(`Authorization: Token ...`) are governed by token scopes and the token endpoint's `otp`
(apps.tokens); a junk Authorization header does not count as one (DRF falls back to the session).

Websockets (`FactorRequiredWebsocketMiddleware`, inside the auth middleware): the handshake is
refused with close code 4403 and the reason.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.urls import Resolver404, resolve
from django.utils.http import urlencode

from apps.identity import factors
from apps.identity.guards import token_request

CLOSE_FACTOR_REQUIRED = 4403

# What a user without a factor may still reach: enrolment, logging in and out, re-authentication.
_OPEN_URL_NAMES = {
    "login",
    "logout",
    "account_login",
    "account_logout",
    "account_reauthenticate",
    "favicon",
}
_OPEN_PREFIXES = ("/static/",)


def _open(request: HttpRequest) -> bool:
    if request.path.startswith(_OPEN_PREFIXES):
        return True
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return False
    return match.url_name in _OPEN_URL_NAMES or (match.url_name or "").startswith("mfa_")


class FactorRequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        reason = None
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not token_request(request)
            and not _open(request)
        ):
            reason = factors.refusal(user, request.session)
        if reason is None:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": reason}, status=403)
        if reason == factors.VERIFY:
            logout(request)
            target = f"{resolve_url('login')}?{urlencode({'next': request.get_full_path()})}"
        else:
            target = resolve_url("mfa_index")
        messages.warning(request, reason)
        if request.headers.get("HX-Request") == "true":
            response = HttpResponse(reason, status=403, content_type="text/plain")
            response["HX-Redirect"] = target
            return response
        return HttpResponseRedirect(target)


class FactorRequiredWebsocketMiddleware:
    """Refuses websockets of sessions without the factor their role requires (code 4403)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            reason = await database_sync_to_async(self._refusal)(scope)
            if reason is not None:
                await receive()  # websocket.connect
                await send(
                    {"type": "websocket.close", "code": CLOSE_FACTOR_REQUIRED, "reason": reason}
                )
                return None
        return await self.inner(scope, receive, send)

    @staticmethod
    def _refusal(scope) -> str | None:
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            return None
        return factors.refusal(user, scope.get("session"))
