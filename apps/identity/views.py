"""A person's own sessions (list, end one, end the others) and the administrators' lockout page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent
from apps.identity import lockout, sessions


@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    rows = sessions.sessions_of(request.user)
    return render(
        request,
        "identity/sessions.html",
        {"sessions": rows, "current": request.session.session_key},
    )


@login_required
@require_POST
def session_end(request: HttpRequest, pk: int) -> HttpResponse:
    if not sessions.end_own(request.user, pk, by=request.user):
        raise Http404(_("No such session."))
    messages.info(request, _("The session was ended."))
    if not request.user.is_authenticated or not request.session.exists(
        request.session.session_key or ""
    ):
        logout(request)
        return redirect("login")
    return redirect("sessions")


@login_required
@require_POST
def session_end_others(request: HttpRequest) -> HttpResponse:
    sessions.end_all(
        request.user,
        reason="ended by the user",
        by=request.user,
        keep_session=request.session.session_key,
    )
    messages.info(request, _("Your other sessions were ended and your API tokens revoked."))
    return redirect("sessions")


class UnlockForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("Username"),
        required=False,
        max_length=150,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )
    ip = forms.GenericIPAddressField(
        label=gettext_lazy("Address"),
        required=False,
        widget=forms.TextInput(attrs={"class": "form-control"}),
    )

    def clean(self) -> dict:
        data = super().clean()
        if not data.get("username") and not data.get("ip"):
            raise forms.ValidationError(_("Give a username, an address or both."))
        return data


def _require_admin(request: HttpRequest) -> None:
    if not access.can(request.user, Action.MANAGE_USERS):
        raise PermissionDenied(_("Your role may not manage users."))


@login_required
def lockouts(request: HttpRequest) -> HttpResponse:
    """Locks set in the last window (from the audit trail) with their state; lift one."""
    _require_admin(request)
    form = UnlockForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        lockout.unlock(
            username=form.cleaned_data["username"] or None,
            ip=form.cleaned_data["ip"] or None,
            by=request.user,
        )
        messages.success(request, _("The lock was lifted."))
        return redirect("lockouts")
    events = AuditEvent.objects.filter(action="identity.lock").order_by("-at")[:50]
    rows = []
    for event in events:
        username = (
            event.detail.get("username", "") if event.detail.get("subject") == "username" else ""
        )
        ip = event.detail.get("ip", "") if event.detail.get("subject") == "ip" else ""
        rows.append(
            {
                "event": event,
                "username": username,
                "ip": ip,
                "active": lockout.is_locked(username=username or None, ip=ip or None),
            }
        )
    status = 400 if request.method == "POST" else 200
    return render(request, "identity/lockouts.html", {"rows": rows, "form": form}, status=status)
