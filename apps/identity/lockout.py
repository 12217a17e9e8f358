"""Lockout: too many failed sign-ins refuse a username, or an address, for a while.

One module for every door (web login, admin, the API token endpoint, second-factor codes): the
callers ask `refusal()` before checking a password or code, then report `failed()` or
`succeeded()`. Counts live in the default cache, which is Redis in production, so every process
(web, API, admin) sees the same counts; `apps.identity.checks` refuses a per-process cache when
DEBUG is off.

Failures are counted in one-minute buckets (`cache.incr`, atomic on Redis) over a sliding window
of `HEATSITE_LOCKOUT_WINDOW` seconds. When a username reaches `HEATSITE_LOCKOUT_USER_LIMIT`
failures (or an address `HEATSITE_LOCKOUT_IP_LIMIT`), a lock is stored with `cache.add`, so
exactly one process writes the audit record, and the subject is refused, even with the right
password, until the lock ends one window after it was set. Attempts refused while locked are
not counted again: the lock ends when promised.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

from apps.identity import clock

logger = logging.getLogger(__name__)

CHANNELS = frozenset({"web", "admin", "api", "otp"})
_BUCKET = 60
_PREFIX = "identity:lockout"


def window() -> int:
    return int(getattr(settings, "HEATSITE_LOCKOUT_WINDOW", 900))


def _limit(kind: str) -> int:
    if kind == "user":
        return int(getattr(settings, "HEATSITE_LOCKOUT_USER_LIMIT", 5))
    return int(getattr(settings, "HEATSITE_LOCKOUT_IP_LIMIT", 20))


def _subject(kind: str, value: str) -> str:
    # usernames compare case-insensitively here: "Engineer" and "engineer" share one count
    normal = value.strip().lower() if kind == "user" else value.strip()
    return hashlib.sha256(f"{kind}:{normal}".encode()).hexdigest()[:32]


def _bucket_key(kind: str, subject: str, bucket: int) -> str:
    return f"{_PREFIX}:{kind}:{subject}:{bucket}"


def _lock_key(kind: str, subject: str) -> str:
    return f"{_PREFIX}:{kind}:{subject}:lock"


def _buckets(now: float) -> range:
    last = int(now // _BUCKET)
    return range(last - window() // _BUCKET + 1, last + 1)


def _count(kind: str, subject: str, now: float) -> int:
    keys = [_bucket_key(kind, subject, b) for b in _buckets(now)]
    return sum(int(v) for v in cache.get_many(keys).values())


def _locked_until(kind: str, value: str | None, now: float) -> float | None:
    if not value:
        return None
    until = cache.get(_lock_key(kind, _subject(kind, value)))
    if until is None or float(until) <= now:
        return None
    return float(until)


def _minutes(seconds: float) -> int:
    return max(1, int(-(-seconds // 60)))


def refusal(username: str, ip: str) -> str | None:
    """Why a sign-in for `username` from `ip` is refused now, or None when it may proceed."""
    now = clock.now()
    until = _locked_until("user", username, now)
    if until is not None:
        return (
            "Too many failed sign-ins for this account: it is locked for "
            f"{_minutes(until - now)} more minute(s). Try again later or ask an administrator."
        )
    until = _locked_until("ip", ip, now)
    if until is not None:
        return (
            "Too many failed sign-ins from your address: it is refused for "
            f"{_minutes(until - now)} more minute(s)."
        )
    return None


def _record_failure(kind: str, value: str, *, channel: str, username: str, ip: str) -> None:
    now = clock.now()
    subject = _subject(kind, value)
    key = _bucket_key(kind, subject, int(now // _BUCKET))
    # the bucket outlives the window in real time; counting only reads the window's buckets
    cache.add(key, 0, timeout=window() + 2 * _BUCKET)
    try:
        cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.add(key, 1, timeout=window() + 2 * _BUCKET)
    failures = _count(kind, subject, now)
    if failures < _limit(kind):
        return
    until = now + window()
    lock_key = _lock_key(kind, subject)
    current = cache.get(lock_key)
    if current is not None and float(current) > now:
        return
    if current is not None:
        cache.delete(lock_key)  # an ended lock (moved clock): a new one may start
    if not cache.add(lock_key, until, timeout=window() + 2 * _BUCKET):
        return  # another process locked it first and audited it
    _audit_lock(
        kind, value, channel=channel, username=username, ip=ip, failures=failures, until=until
    )


def _user_named(username: str) -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(username__iexact=username.strip()).first()


def _audit_lock(
    kind: str, value: str, *, channel: str, username: str, ip: str, failures: int, until: float
) -> None:
    from apps.audit.models import AuditEvent
    from apps.audit.services import audit_record

    target = _user_named(value) if kind == "user" else None
    audit_record(
        actor=None,
        action="identity.lock",
        target=target,
        result=AuditEvent.Result.REFUSED,
        detail={
            "subject": "username" if kind == "user" else "ip",
            "username": username[:150],
            "ip": ip,
            "channel": channel,
            "failures": failures,
            "until": datetime.fromtimestamp(until, tz=UTC).isoformat(),
        },
    )
    logger.warning("sign-in lock on %s after %d failures (%s)", kind, failures, channel)


def failed(username: str, ip: str, *, channel: str) -> None:
    """Counts one failed password or factor code for `username` and for `ip`."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown lockout channel {channel!r}")
    if username:
        _record_failure("user", username, channel=channel, username=username, ip=ip)
    if ip:
        _record_failure("ip", ip, channel=channel, username=username, ip=ip)


def succeeded(username: str, ip: str) -> None:
    """A correct sign-in: the username's count starts again (the address's does not, or one
    valid account would reset an attacker's address)."""
    if not username:
        return
    subject = _subject("user", username)
    cache.delete_many([_bucket_key("user", subject, b) for b in _buckets(clock.now())])


def _clear(kind: str, value: str) -> bool:
    now = clock.now()
    subject = _subject(kind, value)
    was_locked = _locked_until(kind, value, now) is not None
    cache.delete_many(
        [_lock_key(kind, subject), *(_bucket_key(kind, subject, b) for b in _buckets(now))]
    )
    return was_locked


def unlock(*, username: str | None = None, ip: str | None = None, by: Any) -> None:
    """Lifts the lock (and forgets the failures) of a username and/or an address; audited."""
    from apps.audit.services import audit_record

    if not username and not ip:
        raise ValueError("unlock needs a username or an address")
    if username:
        was_locked = _clear("user", username)
        audit_record(
            actor=by,
            action="identity.unlock",
            target=_user_named(username),
            detail={"subject": "username", "username": username[:150], "was_locked": was_locked},
        )
    if ip:
        was_locked = _clear("ip", ip)
        audit_record(
            actor=by,
            action="identity.unlock",
            detail={"subject": "ip", "ip": ip, "was_locked": was_locked},
        )


def client_ip(request: Any) -> str:
    """The address a request came from (REMOTE_ADDR: a proxy in front must set it)."""
    return str(request.META.get("REMOTE_ADDR", "") or "")


def is_locked(*, username: str | None = None, ip: str | None = None) -> bool:
    """Whether the username or the address is locked now."""
    now = clock.now()
    return (username is not None and _locked_until("user", username, now) is not None) or (
        ip is not None and _locked_until("ip", ip, now) is not None
    )
