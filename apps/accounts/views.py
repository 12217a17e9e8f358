"""Login, logout and the user's own account page (with API tokens)."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework.authtoken.models import Token

from apps.audit.services import audit_record


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("fleet")


@login_required
def account(request: HttpRequest) -> HttpResponse:
    token = Token.objects.filter(user=request.user).first()
    new_key = request.session.pop("new_token_key", None)
    return render(request, "accounts/account.html", {"token": token, "new_token_key": new_key})


@login_required
@require_POST
def token_regenerate(request: HttpRequest) -> HttpResponse:
    Token.objects.filter(user=request.user).delete()
    token = Token.objects.create(user=request.user)
    audit_record(actor=request.user, action="token.create", target=request.user)
    # Shown once, on the next page only; never stored in clear anywhere we render again.
    request.session["new_token_key"] = token.key
    messages.success(request, "A new API token was created. Copy it now: it is shown only once.")
    return redirect("account")


@login_required
@require_POST
def token_revoke(request: HttpRequest) -> HttpResponse:
    deleted, _ = Token.objects.filter(user=request.user).delete()
    if deleted:
        audit_record(actor=request.user, action="token.revoke", target=request.user)
        messages.info(request, "Your API token was revoked.")
    return redirect("account")
