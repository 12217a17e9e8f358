"""Shared by the identity tests: a TOTP factor, its current code, and a movable clock."""

from __future__ import annotations

import time

from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)


def enrol_totp(user) -> str:
    """Gives `user` a TOTP authenticator; returns its base32 secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def totp_code(secret: str, step: int = 0) -> str:
    """The code of the current 30-s period (`step` periods later or earlier)."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + step))


class Clock:
    """Stands in for apps.identity.clock.now: the real time plus whatever `advance` added."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def recent_factor_session(user) -> dict:
    """A websocket scope's session in which `user` used a second factor just now (consumers
    that bypass session authentication in tests put it in `scope["session"]`)."""
    from apps.identity import recent

    return {recent.SESSION_KEY: {"at": time.time(), "method": "password+totp", "user": user.pk}}
