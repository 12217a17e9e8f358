"""The password check every door goes through, with the lockout in front of it.

Django's `authenticate()` calls the backends for the web login (allauth), the admin site (which
logs in through the same allauth form) and password re-authentication alike, so the lockout sits
here once (the API token endpoint, which checks password and code together, calls the lockout
module itself): a refused username or address stops the
check before the password is looked at (`PermissionDenied` ends `authenticate()`, so no later
backend gets a say) and a wrong password counts one failure.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from apps.identity import lockout

REFUSAL_ATTRIBUTE = "heatsite_lockout_refusal"


def channel_of(request: Any) -> str:
    """Which door a request came through: "admin", "api" or "web"."""
    path = getattr(request, "path", "") or ""
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/api/"):
        return "api"
    return "web"


class LockoutModelBackend(ModelBackend):
    """`ModelBackend` behind the lockout (apps.identity.lockout)."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        ip = lockout.client_ip(request) if request is not None else ""
        reason = lockout.refusal(username, ip)
        if reason is not None:
            if request is not None:
                setattr(request, REFUSAL_ATTRIBUTE, reason)
                if channel_of(request) == "web":
                    # the login form only says "wrong password"; the message says why
                    with contextlib.suppress(messages.MessageFailure):
                        messages.error(request, reason)
            raise PermissionDenied(reason)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            lockout.failed(username, ip, channel=channel_of(request))
        # A right password does not reset the count: the login is complete only after the
        # factor (apps.identity.lockout_receivers resets it then).
        return user
