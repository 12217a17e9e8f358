"""Creating, checking and revoking API tokens. Every change is audited.

A token is ``hst_`` followed by 40 URL-safe characters (240 random bits). The database holds only
``HMAC-SHA256(pepper, token)`` and the pepper's id: a database dump cannot be replayed, and the
pepper (a setting, never stored) can be rotated by prepending a new one to
``HEATSITE_TOKEN_PEPPERS`` (new tokens use the first; every listed pepper still verifies).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.policy import grantable_scopes
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.tokens.models import SCOPE_ORDER, ApiToken

PREFIX = "hst_"
DEFAULT_DAYS = 30
MAX_DAYS = 365
# last_used_at is written at most this often per token (unless the address changes).
LAST_USED_RESOLUTION = timedelta(seconds=60)


class TokenError(ValueError):
    """A token request that cannot be granted; the message says why."""


class TokenRefused(Exception):
    """A presented token that does not authenticate; the message says why."""


# -- secrets and digests ----------------------------------------------------------------------


def peppers() -> list[tuple[str, bytes]]:
    """(id, secret) pairs; the first signs new tokens."""
    return [(pid, secret.encode()) for pid, secret in settings.HEATSITE_TOKEN_PEPPERS]


def digest(secret: str, pepper: bytes) -> str:
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def _new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(30)


# -- validation -------------------------------------------------------------------------------


def normalise_scopes(user, requested: list[str] | str | None) -> list[str]:
    """The scopes to store (each implies those below it), or a TokenError naming the problem."""
    if requested is None or requested == "" or requested == []:
        requested = ["read"]
    if isinstance(requested, str):
        requested = [s for s in requested.replace(",", " ").split() if s]
    unknown = [s for s in requested if s not in SCOPE_ORDER]
    if unknown:
        raise TokenError(f"Unknown scope {unknown[0]!r}: use read, write or operate.")
    allowed = grantable_scopes(user.role)
    refused = [s for s in requested if s not in allowed]
    if refused:
        raise TokenError(
            f"Your role may not hold a token with the {refused[0]} scope "
            f"(allowed: {', '.join(allowed)})."
        )
    top = max(SCOPE_ORDER.index(s) for s in requested)
    return [str(s) for s in SCOPE_ORDER[: top + 1]]


def expiry(days: int | None = None, *, now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    days = DEFAULT_DAYS if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise TokenError(f"A token expires after 1 to {MAX_DAYS} days, not {days}.")
    return now + timedelta(days=days)


def parse_ip_ranges(ranges: list[str] | str | None) -> list[str]:
    """Normalised CIDR ranges, or a TokenError naming the first bad one."""
    if not ranges:
        return []
    if isinstance(ranges, str):
        ranges = [r for r in ranges.replace(",", " ").split() if r]
    parsed = []
    for text in ranges:
        try:
            parsed.append(str(ipaddress.ip_network(str(text).strip(), strict=False)))
        except ValueError:
            raise TokenError(f"Not an IP address or range: {str(text)[:60]!r}.") from None
    return parsed


def ip_allowed(token: ApiToken, ip: str | None) -> bool:
    if not token.allowed_ips:
        return True
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(r) for r in token.allowed_ips if _same_family(address, r)
    )


def _same_family(address, network: str) -> bool:
    return address.version == ipaddress.ip_network(network).version


# -- writes -----------------------------------------------------------------------------------


def create_token(
    user,
    *,
    name: str,
    scopes: list[str] | str | None = None,
    days: int | None = None,
    allowed_ips: list[str] | str | None = None,
    via: str = "web",
) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it and its secret (the only time the secret exists)."""
    name = (name or "").strip()[:100] or "API token"
    if not user.is_active:
        raise TokenError("An inactive account may not hold tokens.")
    stored_scopes = normalise_scopes(user, scopes)
    expires = expiry(days)
    ranges = parse_ip_ranges(allowed_ips)
    secret = _new_secret()
    pepper_id, pepper = peppers()[0]
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=secret[:8],
            digest=digest(secret, pepper),
            pepper_id=pepper_id,
            scopes=stored_scopes,
            allowed_ips=ranges,
            expires=expires,
        )
        audit_record(
            actor=user,
            action="token.create",
            target=token,
            detail={
                "name": name,
                "scopes": stored_scopes,
                "expires": expires.isoformat(),
                "allowed_ips": ranges,
                "via": via,
            },
        )
    return token, secret


def revoke(token: ApiToken, *, by: Any, reason: str = "revoked by its owner") -> bool:
    """Revokes one token (effective on its next request). False when it was already revoked."""
    with transaction.atomic():
        updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_reason=reason[:200]
        )
        if updated:
            audit_record(
                actor=by,
                action="token.revoke",
                target=token,
                detail={"owner": token.user.get_username(), "reason": reason[:200]},
            )
    token.refresh_from_db(fields=["revoked_at", "revoked_reason"])
    return bool(updated)


def revoke_all(user, *, reason: str, by=None) -> int:
    """Revokes every unrevoked token of `user` (deactivation, role change, factor change...).
    Returns how many were revoked; audited once, naming them."""
    with transaction.atomic():
        tokens = list(
            ApiToken.objects.select_for_update().filter(user=user, revoked_at__isnull=True)
        )
        if not tokens:
            return 0
        ApiToken.objects.filter(pk__in=[t.pk for t in tokens]).update(
            revoked_at=timezone.now(), revoked_reason=reason[:200]
        )
        audit_record(
            actor=by,
            action="token.revoke_all",
            target=user,
            detail={
                "reason": reason[:200],
                "tokens": [f"{t.pk}:{t.name}" for t in tokens],
                "count": len(tokens),
            },
        )
    return len(tokens)


# -- reads ------------------------------------------------------------------------------------


def find(secret: str) -> ApiToken | None:
    """The token whose digest matches under any configured pepper, revoked or not."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    digests = {digest(secret, pepper): pid for pid, pepper in peppers()}
    for token in ApiToken.objects.select_related("user").filter(digest__in=list(digests)):
        if digests.get(token.digest) == token.pepper_id:
            return token
    return None


def authenticate(secret: str, ip: str | None) -> ApiToken:
    """The active token for `secret` used from `ip`, with its last use recorded; otherwise
    TokenRefused with the reason (revoked, expired, address not allowed, account inactive)."""
    token = find(secret)
    if token is None:
        raise TokenRefused("Invalid token.")
    now = timezone.now()
    reason = None
    if token.revoked_at is not None:
        reason = "This token has been revoked."
    elif token.expires <= now:
        reason = "This token has expired."
    elif not token.user.is_active:
        reason = "This token's account is inactive."
    elif not ip_allowed(token, ip):
        reason = "This token may not be used from your address."
    if reason:
        audit_record(
            actor=None,
            action="token.refused",
            target=token,
            result=AuditEvent.Result.REFUSED,
            detail={"owner": token.user.get_username(), "reason": reason, "ip": ip or ""},
        )
        raise TokenRefused(reason)
    if (
        token.last_used_at is None
        or now - token.last_used_at >= LAST_USED_RESOLUTION
        or token.last_used_ip != ip
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
        token.last_used_at, token.last_used_ip = now, ip
    return token


def tokens_of(user):
    return ApiToken.objects.filter(user=user)
