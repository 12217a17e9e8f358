"""Enforces the dangerous-endpoint list (apps.identity.dangerous) for every HTTP path.

A dangerous request from a session whose last factor use is older than
`HEATSITE_REAUTH_SECONDS` never reaches its view: it gets the re-auth prompt (htmx), the re-auth
page (pages) or 403 `{"detail": ...}` (API). API-token requests (`Authorization: Token ...`) are
left to the token's scopes. One middleware rather than a decorator per view: the list is the
rule, and a view cannot forget it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from apps.identity import dangerous, recent

_TOKEN_KEYWORDS = (b"token", b"bearer")


def token_request(request: HttpRequest) -> bool:
    """Whether the request authenticates with an API token: an API call (only the API reads
    tokens: a page with an Authorization header still runs on its session, so the header must
    not spare it the factor, session and re-authentication checks) whose header names a token
    scheme (a junk one does not count)."""
    if not request.path.startswith("/api/"):
        return False
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if isinstance(header, str):
        header = header.encode("latin-1", "replace")
    parts = header.split()
    return bool(parts) and parts[0].lower() in _TOKEN_KEYWORDS


def _has_factor(user: Any) -> bool:
    from apps.identity import factors

    return factors.has_factor(user)


class RecentFactorMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        match = request.resolver_match
        entry = dangerous.lookup(match.view_name if match else None, request.method or "")
        if entry is None:
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or token_request(request):
            return None  # the view answers 401/login; tokens are governed by scopes
        if recent.is_recent(request):
            return None
        if entry.open_without_factor and not _has_factor(user):
            return None  # the first enrolment
        from apps.identity.reauth import prompt

        return prompt(request)
