"""Re-authentication ("sudo mode"): dangerous acts need a second factor used in the last minutes.

`mark()` records that the person behind this session just used a factor (at login through the
factor, or at the re-auth prompt) and gives the session a new id; `is_recent()` says whether that
was within `HEATSITE_REAUTH_SECONDS` (300). Pages use `recent_factor_required` (an htmx request
gets the inline prompt, a page the full re-auth page), the API (session authentication) the DRF
permission `RecentFactor` (403 with the reason). Token-authenticated API calls are governed by the
token's scopes instead (`operate`). The dangerous endpoints are listed in
`apps.identity.dangerous`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy
from rest_framework.permissions import BasePermission

from apps.identity import clock

SESSION_KEY = "identity_recent_factor"
REAUTH_DETAIL = gettext_lazy(
    "This action needs a recent second factor: re-authenticate (a code from your authenticator "
    "app or your passkey) at /account/reauth/, then try again within {minutes} minutes."
)


def max_age() -> int:
    """Seconds a factor use counts as recent."""
    return int(getattr(settings, "HEATSITE_REAUTH_SECONDS", 300))


def detail() -> str:
    return REAUTH_DETAIL.format(minutes=max(1, max_age() // 60))


def mark(request: Any, method: str, *, new_session_id: bool = False) -> None:
    """Records a factor use (`method`: "password+totp", "totp", "webauthn", ...) on the session.

    `new_session_id`: also give the session a new id (ASVS 7.2.4), as the re-auth views do; a
    login gets its new id from `django.contrib.auth.login` already."""
    session = request.session
    if new_session_id and session.session_key:
        session.cycle_key()
    user = getattr(request, "user", None)
    session[SESSION_KEY] = {
        "at": clock.now(),
        "method": str(method),
        "user": user.pk if user is not None and user.is_authenticated else None,
    }


def last_use(session: Any, user: Any) -> dict[str, Any] | None:
    """The factor use recorded on `session` for `user`, if any."""
    record = session.get(SESSION_KEY) if session is not None else None
    if not isinstance(record, dict) or "at" not in record:
        return None
    if record.get("user") is not None and (user is None or record["user"] != user.pk):
        return None
    return record


def is_recent_session(session: Any, user: Any) -> bool:
    """`is_recent` for a session and a user (websocket consumers have no request)."""
    if user is None or not user.is_authenticated:
        return False
    record = last_use(session, user)
    if record is None:
        return False
    age = clock.now() - float(record["at"])
    return 0 <= age < max_age()


def is_recent(request: Any) -> bool:
    """True when this session used a second factor within `HEATSITE_REAUTH_SECONDS`."""
    return is_recent_session(getattr(request, "session", None), getattr(request, "user", None))


class RecentFactor(BasePermission):
    """DRF permission for dangerous API actions under session authentication: 403 with the
    reason unless a factor was used recently. Token requests pass (scopes govern them)."""

    message = REAUTH_DETAIL.format(minutes=5)

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        if getattr(request, "auth", None) is not None:
            return True
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return True  # IsAuthenticated answers 401 for these
        if is_recent(request):
            return True
        self.message = detail()
        return False


def recent_factor_required(
    view: Callable[..., HttpResponse] | None = None, *, methods: tuple[str, ...] = ("POST",)
) -> Any:
    """View decorator: the wrapped view runs only after a recent factor use. Otherwise an htmx
    request gets the inline prompt (which, once a code is accepted, sends the same request
    again), a plain request the full re-auth page with `next` back here. `methods`: which HTTP
    methods are dangerous ("GET" too for pages that open something, like a console)."""

    def decorator(func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method not in methods or not request.user.is_authenticated:
                return func(request, *args, **kwargs)
            if is_recent(request):
                return func(request, *args, **kwargs)
            from apps.identity.reauth import prompt

            return prompt(request)

        wrapper.recent_factor_required = True  # type: ignore[attr-defined]
        return wrapper

    if view is not None:
        return decorator(view)
    return decorator
