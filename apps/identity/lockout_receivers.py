"""The lockout at allauth's second-factor step and at the end of a login.

A wrong code at the factor step (or at allauth's re-authentication) counts like a wrong password
(`channel="otp"`); when it locks the username, the half-done login is dropped, so the next try
starts again at the password and is refused there (`LockoutModelBackend`). The username's count
starts again only once a login is complete (`user_logged_in`), never after the password alone:
a known password must not buy unlimited code guesses.
"""

from __future__ import annotations

from typing import Any

from apps.identity import lockout


def code_failed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or user is None:
        return
    username, ip = user.get_username(), lockout.client_ip(request)
    lockout.failed(username, ip, channel="otp")
    if lockout.refusal(username, ip) is not None and not kwargs.get("reauthentication"):
        from allauth.account.internal.stagekit import clear_login

        clear_login(request)


def logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and user is not None:
        lockout.succeeded(user.get_username(), lockout.client_ip(request))


def connect() -> None:
    from allauth.mfa import signals as mfa_signals
    from django.contrib.auth.signals import user_logged_in

    mfa_signals.authentication_failed.connect(code_failed, dispatch_uid="identity-lockout-code")
    user_logged_in.connect(logged_in, dispatch_uid="identity-lockout-login")
