"""Re-authentication: the inline htmx prompt, the full page, and what a dangerous request
without a recent factor gets.

The prompt asks for a code from the authenticator app (or, for a person without any factor, the
password); a passkey goes through allauth's re-authentication page, whose `authenticator_used`
signal marks the session the same way. Codes count towards the lockout like login codes. After
a code is accepted the session gets a new id and the action proceeds: an htmx page
(static/js/reauth.js) sends the request that needed it again; a plain form's POST was held in
the session and runs now (never one with a password field: that form is submitted again).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.shortcuts import render, resolve_url
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.identity import clock, lockout, recent

REAUTH_HEADER = "X-Heatsite-Reauth"
SUSPENDED_KEY = "identity_suspended_post"
REAUTHENTICATED_EVENT = "heatsite:reauthenticated"


def _factor_types(user: Any) -> set[str]:
    from allauth.mfa.models import Authenticator

    return set(Authenticator.objects.filter(user_id=user.pk).values_list("type", flat=True))


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=16,
        widget=forms.TextInput(
            attrs={
                "class": "form-control",
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "autofocus": True,
            }
        ),
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        widget=forms.PasswordInput(
            attrs={"class": "form-control", "autocomplete": "current-password", "autofocus": True}
        ),
    )


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url("home")


def _passkey_url(next_url: str) -> str | None:
    try:
        base = reverse("mfa_reauthenticate")
    except NoReverseMatch:
        return None
    return f"{base}?{urlencode({'next': next_url})}"


def _context(request: HttpRequest, form: forms.Form, next_url: str) -> dict[str, Any]:
    types = _factor_types(request.user)
    return {
        "form": form,
        "detail": recent.detail(),
        "next": next_url,
        "uses_password": "totp" not in types and "webauthn" not in types,
        "passkey_url": _passkey_url(next_url) if "webauthn" in types else None,
    }


def _form_for(request: HttpRequest, data: Any = None) -> forms.Form:
    types = _factor_types(request.user)
    if "totp" in types or "webauthn" in types:
        return CodeForm(data)
    return PasswordForm(data)


def prompt(request: HttpRequest) -> HttpResponse:
    """What a dangerous request without a recent factor gets: the API a 403 with the reason, an
    htmx request the inline prompt (appended to the page), a page the full re-auth page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": recent.detail()}, status=403)
    if request.headers.get("HX-Request") == "true":
        next_url = request.headers.get("HX-Current-URL") or request.get_full_path()
        response = render(
            request,
            "identity/_reauth_prompt.html",
            _context(request, _form_for(request), _safe_next(request, next_url)),
        )
        response["HX-Retarget"] = "body"
        response["HX-Reswap"] = "beforeend"
        response[REAUTH_HEADER] = "required"
        return response
    if request.method == "GET":
        next_url = request.get_full_path()
    else:  # a plain form: held until the code is given, or submitted again
        next_url = request.META.get("HTTP_REFERER") or request.get_full_path()
        _suspend(request)
    target = f"{reverse('reauth')}?{urlencode({'next': _safe_next(request, next_url)})}"
    return HttpResponseRedirect(target)


def _suspend(request: HttpRequest) -> None:
    """Keeps a plain form's POST in the session so it proceeds once the code is given. Never a
    form with a password field or a file (those are submitted again instead: a password is
    never stored, not even in the session)."""
    request.session.pop(SUSPENDED_KEY, None)
    if request.FILES or any("password" in name for name in request.POST):
        return
    post = request.POST.copy()
    post.pop("csrfmiddlewaretoken", None)
    request.session[SUSPENDED_KEY] = {
        "path": request.path_info,
        "post": post.urlencode(),
        "at": clock.now(),
        "user": request.user.pk,
    }


def _resume(request: HttpRequest) -> HttpResponse | None:
    """Runs the POST held by `_suspend`, if it is this user's and recent; else None."""
    held = request.session.pop(SUSPENDED_KEY, None)
    if not isinstance(held, dict) or held.get("user") != request.user.pk:
        return None
    if clock.now() - float(held.get("at", 0)) > recent.max_age():
        return None
    try:
        match = resolve(held["path"])
    except Resolver404:
        return None
    request.method = "POST"
    request.POST = QueryDict(held["post"])
    request.path = request.path_info = held["path"]
    request.resolver_match = match
    return match.func(request, *match.args, **match.kwargs)


def _check(request: HttpRequest, form: forms.Form) -> str | None:
    """The method that passed ("totp", "password"), or None (form errors added)."""
    user = request.user
    username, ip = user.get_username(), lockout.client_ip(request)
    refused = lockout.refusal(username, ip)
    if refused is not None:
        form.add_error(None, refused)
        return None
    if isinstance(form, CodeForm):
        from apps.identity import factors

        if factors.verify_totp(user, form.cleaned_data["code"]):
            lockout.succeeded(username, ip)
            return "totp"
        lockout.failed(username, ip, channel="otp")
        form.add_error("code", _("That code is not valid (or was already used)."))
        return None
    # the backend counts a wrong password itself (apps.identity.backends)
    if authenticate(request, username=username, password=form.cleaned_data["password"]):
        return "password"
    refused = getattr(request, "heatsite_lockout_refusal", None)
    form.add_error("password" if refused is None else None, refused or _("Wrong password."))
    return None


@login_required
def reauth(request: HttpRequest) -> HttpResponse:
    """GET: the re-auth page; POST: a code (or password) that makes the session's factor use
    recent again."""
    htmx = request.headers.get("HX-Request") == "true"
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    template = "identity/_reauth_prompt.html" if htmx else "identity/reauth.html"
    if request.method != "POST":
        return render(request, template, _context(request, _form_for(request), next_url))
    form = _form_for(request, request.POST)
    method = _check(request, form) if form.is_valid() else None
    if method is None:
        audit_record(
            actor=request.user,
            action="identity.reauth",
            target=request.user,
            result=AuditEvent.Result.REFUSED,
        )
        status = 200 if htmx else 400  # htmx swaps only successful answers
        return render(request, template, _context(request, form, next_url), status=status)
    recent.mark(request, method, new_session_id=True)
    audit_record(
        actor=request.user, action="identity.reauth", target=request.user, detail={"method": method}
    )
    if htmx:
        response = HttpResponse("")
        response["HX-Trigger"] = REAUTHENTICATED_EVENT
        return response
    resumed = _resume(request)
    if resumed is not None:
        return resumed
    return HttpResponseRedirect(next_url)
