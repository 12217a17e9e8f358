"""Designed error pages (HTML for pages, JSON for the API), and the favicon's old address."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=status)
    return render(
        request, "error.html", {"status": status, "title": title, "message": message}, status=status
    )


def bad_request(request, exception=None):
    return _error(request, 400, _("Bad request"), _("The request could not be understood."))


def permission_denied(request, exception=None):
    message = str(exception) if exception and str(exception) else ""
    message = message or _("Your role does not allow this.")
    return _error(request, 403, _("Not allowed"), message)


def page_not_found(request, exception=None):
    return _error(
        request, 404, _("Not found"), _("There is nothing here, or it is not visible to you.")
    )


def server_error(request):
    title, message = _("Something went wrong"), _("The error was logged. Please try again shortly.")
    try:
        return _error(request, 500, title, message)
    except Exception:
        # What failed may be what the designed page needs too (the database is out of
        # connections, so the session and the user cannot be read): a page that needs nothing.
        return HttpResponse(
            f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1>"
            f"<p>{escape(message)}</p>",
            status=500,
        )


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for whatever the page's ``<link rel="icon">`` says:
    the static icon, for anyone (the login page has it too)."""
    return redirect(static("favicon.ico"))
