"""Which language a user reads: their own choice, else the browser's (pages) or English."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.utils import translation


def user_language(user: Any) -> str:
    """The user's chosen language code, or "" (not chosen, anonymous, unknown code)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    code = getattr(user, "language", "") or ""
    return code if code in dict(settings.LANGUAGES) else ""


def language_for(user: Any) -> str:
    """The language to write to a user outside a request (e-mails, documents, tasks)."""
    return user_language(user) or settings.LANGUAGE_CODE


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
