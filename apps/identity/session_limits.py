"""Idle and absolute session limits per role (ASVS 7.3.1/7.3.2).

`HEATSITE_SESSION_LIMITS` gives each role (idle, absolute) seconds: engineers and admins 30 min
and 12 h, partners and planners longer. The session remembers when it started and when it was
last used (written at most once a minute, so a busy page does not write the session on every
request: idle time is measured to within a minute). A session past either limit is ended on
its next request: a page is sent to the login, htmx gets `HX-Redirect`, the API 401. The
session store's own expiry is set to the absolute limit, so an abandoned session is also gone
from the store (and its cookie) at that time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from apps.identity import clock
from apps.identity.guards import token_request

STARTED = "identity_started"
SEEN = "identity_seen"
_SEEN_EVERY = 60
_DEFAULT = (30 * 60, 12 * 3600)


def limits(user: Any) -> tuple[int, int]:
    """(idle, absolute) seconds for the user's role."""
    configured = getattr(settings, "HEATSITE_SESSION_LIMITS", {})
    idle, absolute = configured.get(getattr(user, "role", ""), _DEFAULT)
    return int(idle), int(absolute)


def start(session: Any, user: Any) -> None:
    """Starts the clocks of a freshly logged-in session."""
    now = clock.now()
    session[STARTED] = now
    session[SEEN] = now
    _, absolute = limits(user)
    session.set_expiry(datetime.fromtimestamp(now + absolute, tz=UTC))


def expired(session: Any, user: Any) -> str | None:
    """Why the session is over ("idle" or "absolute"), or None."""
    started, seen = session.get(STARTED), session.get(SEEN)
    if started is None or seen is None:
        return None
    idle, absolute = limits(user)
    now = clock.now()
    if now - float(started) >= absolute:
        return "absolute"
    if now - float(seen) >= idle:
        return "idle"
    return None


def _ended_response(request: HttpRequest, why: str) -> HttpResponse:
    text = (
        _("Your session reached its maximum length: log in again.")
        if why == "absolute"
        else _("Your session ended after a period without activity: log in again.")
    )
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": text}, status=401)
    target = f"{resolve_url('login')}?{urlencode({'next': request.get_full_path()})}"
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(text, status=401, content_type="text/plain")
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target)


class SessionLimitsMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or token_request(request):
            return self.get_response(request)
        session = request.session
        why = expired(session, user)
        if why is not None:
            from apps.audit.services import audit_record

            audit_record(actor=user, action="session.timeout", target=user, detail={"limit": why})
            logout(request)
            return _ended_response(request, why)
        if session.get(STARTED) is None:
            start(session, user)
        elif clock.now() - float(session[SEEN]) >= _SEEN_EVERY:
            session[SEEN] = clock.now()
        return self.get_response(request)
