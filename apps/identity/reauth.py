"""The re-authentication prompt and page (filled in below by the re-auth views)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from apps.identity.recent import detail


def prompt(request: HttpRequest) -> HttpResponse:
    """What a dangerous page request without a recent factor gets."""
    return HttpResponse(detail(), status=403, content_type="text/plain")
