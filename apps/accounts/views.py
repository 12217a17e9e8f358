"""Login, logout and the user's own account page (API tokens: apps.tokens)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts.languages import user_language_set
from apps.accounts.models import Language


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("fleet")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    # The API tokens card is apps.tokens' `{% account_tokens %}`.
    return render(request, "accounts/account.html", {"languages": Language.choices})


@login_required
@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The user menu's switch and the account page's setting: store, then back where they were."""
    code = request.POST.get("language", "")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    response = redirect(next_url or "account")
    if code not in Language.values:
        messages.error(request, _("Unknown language: choose one of the list."))
        return response
    user_language_set(user=request.user, language=code)
    # The confirmation (and the cookie the login page reads after logout) in the new language.
    active = code or translation.get_language_from_request(request)
    translation.activate(active)
    request.LANGUAGE_CODE = active
    messages.success(request, _("Language saved."))
    if code:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            code,
            max_age=365 * 24 * 3600,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
    return response
