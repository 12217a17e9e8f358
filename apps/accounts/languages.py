"""Which language a user reads: their own choice, else the browser's (pages) or English."""

from collections.abc import Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import (
    get_supported_language_variant,
    parse_accept_lang_header,
)


def user_language(user: Any) -> str:
    """The user's chosen language code, or "" (not chosen, anonymous, unknown code)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    code = getattr(user, "language", "") or ""
    return code if code in dict(settings.LANGUAGES) else ""


def language_for(user: Any) -> str:
    """The language to write to a user outside a request (e-mails, documents, tasks)."""
    return user_language(user) or settings.LANGUAGE_CODE


def scope_language(scope: dict[str, Any]) -> str:
    """The socket's reader's language, as `LocaleMiddleware` + `UserLanguageMiddleware` pick a
    page's: the user's choice, else the language cookie, else ``Accept-Language``."""
    chosen = user_language(scope.get("user"))
    if chosen:
        return chosen
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    cookie = SimpleCookie()
    cookie.load(headers.get("cookie", ""))
    candidates = []
    if settings.LANGUAGE_COOKIE_NAME in cookie:
        candidates.append(cookie[settings.LANGUAGE_COOKIE_NAME].value)
    candidates += [
        code for code, _q in parse_accept_lang_header(headers.get("accept-language", ""))
    ]
    for code in candidates:
        try:
            return get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


@contextmanager
def language_of(user: Any) -> Iterator[str]:
    """Render e-mails and documents for ``user`` in their language."""
    code = language_for(user)
    with translation.override(code):
        yield code


def user_language_set(*, user: Any, language: str) -> None:
    """Store the user's language ("" = follow the browser); audited."""
    from apps.accounts.models import Language
    from apps.audit.services import audit_record

    if language not in Language.values:
        raise ValueError(f"unknown language {language!r}")
    previous = user.language
    if previous == language:
        return
    user.language = language
    user.save(update_fields=["language"])
    audit_record(
        actor=user,
        action="account.language",
        target=user,
        detail={"from": previous, "to": language},
    )
