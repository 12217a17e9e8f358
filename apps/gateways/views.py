"""The gateways page: list (engineers, admins); enrol and revoke (engineers)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from apps.accounts import access
from apps.accounts.policy import Action
from apps.gateways import services, wire


class EnrolForm(forms.Form):
    name = forms.RegexField(
        wire.NAME_RE, max_length=48, help_text=gettext_lazy("lower-case, digits, dashes")
    )
    sites = forms.CharField(
        max_length=2000, help_text=gettext_lazy("site codes, separated by commas")
    )

    def clean_sites(self) -> list[str]:
        codes = [c.strip() for c in self.cleaned_data["sites"].split(",") if c.strip()]
        if not codes:
            raise forms.ValidationError(_("Name at least one site."))
        return codes


def _page(request: HttpRequest, form: EnrolForm, status: int = 200, enrolment=None):
    gateways = access.gateways_for_user(request.user).prefetch_related("site_links__site")
    response = render(
        request,
        "gateways/gateways.html",
        {
            "gateways": gateways,
            "form": form,
            "may_manage": access.can(request.user, Action.MANAGE_GATEWAYS),
            "enrolment": enrolment,
        },
        status=status,
    )
    if enrolment is not None:
        response["Cache-Control"] = "no-store"
    return response


@login_required
def gateways(request: HttpRequest) -> HttpResponse:
    """GET: the gateways. POST: enrol one; its key file and config are shown this once."""
    if request.method != "POST":
        return _page(request, EnrolForm())
    access.gateways_for_user(request.user, Action.MANAGE_GATEWAYS)
    form = EnrolForm(request.POST)
    if form.is_valid():
        codes = form.cleaned_data["sites"]
        sites = list(
            access.sites_visible_to(request.user, Action.MANAGE_GATEWAYS).filter(code__in=codes)
        )
        unknown = sorted(set(codes) - {s.code for s in sites})
        if unknown:
            form.add_error(
                "sites", _("No site with code %(codes)s.") % {"codes": ", ".join(unknown)}
            )
        else:
            try:
                enrolment = services.gateway_enrol(
                    actor=request.user, name=form.cleaned_data["name"], sites=sites
                )
            except services.GatewayError as refused:
                form.add_error(None, str(refused))
            else:
                return _page(request, EnrolForm(), enrolment=enrolment)
    return _page(request, form, status=400)


@login_required
@require_POST
def gateway_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    gateway = access.gateway_for_user(request.user, pk, Action.MANAGE_GATEWAYS)
    services.gateway_revoke(actor=request.user, gateway=gateway)
    messages.info(
        request,
        _("Gateway %(name)s revoked; its sites are reached directly.") % {"name": gateway.name},
    )
    return redirect("gateways")
