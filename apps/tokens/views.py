"""The account page's API tokens: create (after a recent factor), list, revoke."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.identity.recent import recent_factor_required
from apps.tokens import services
from apps.tokens.forms import TokenForm
from apps.tokens.models import ApiToken


@login_required
@recent_factor_required
def token_create(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: the token, shown on this response only (never stored in clear)."""
    form = TokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            token, secret = services.create_token(
                request.user,
                name=form.cleaned_data["name"],
                scopes=[form.cleaned_data["scope"]],
                days=form.cleaned_data["days"],
                allowed_ips=form.cleaned_data["allowed_ips"],
                via="web",
            )
        except services.TokenError as exc:
            form.add_error(None, str(exc))
        else:
            response = render(request, "tokens/created.html", {"token": token, "secret": secret})
            response["Cache-Control"] = "no-store"
            return response
    return render(request, "tokens/new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """Revokes one of the user's own tokens (another user's is a 404)."""
    try:
        token = services.tokens_of(request.user).get(pk=pk)
    except ApiToken.DoesNotExist:
        raise Http404("No such token.") from None
    if services.revoke(token, by=request.user):
        messages.info(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("account")
