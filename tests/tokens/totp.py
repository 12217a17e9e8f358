"""TOTP for tests: enrol an authenticator app for a user, and compute its current code."""

import time

from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
)


def enrol_totp(user) -> str:
    """Enrols a TOTP authenticator for `user`; returns its base32 secret."""
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))
