"""A partner's contacts for the monthly statement, on their account page (htmx fragment)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import access
from apps.audit.services import audit_record

from .forms import ContactForm
from .models import StatementMailing


def _fragment(request: HttpRequest, form: ContactForm | None = None, status: int = 200):
    contacts = list(access.contacts_for_user(request.user))
    last = {}
    for mailing in StatementMailing.objects.filter(contact__in=contacts).order_by("month"):
        last[mailing.contact_id] = mailing
    rows = [{"contact": c, "last": last.get(c.pk)} for c in contacts]
    form = form or ContactForm(organisation_id=request.user.organisation_id)
    template = "mailings/_contacts.html" if request.htmx else "mailings/contacts.html"
    return render(request, template, {"contacts": rows, "form": form}, status=status)


def _done(request: HttpRequest) -> HttpResponse:
    return _fragment(request) if request.htmx else redirect("account")


@login_required
@require_http_methods(["GET", "POST"])
def contacts(request: HttpRequest) -> HttpResponse:
    access.contacts_for_user(request.user)  # 403 for roles without contacts
    if request.method == "GET":
        return _fragment(request)
    form = ContactForm(request.POST, organisation_id=request.user.organisation_id)
    if not form.is_valid():
        # htmx swaps only 2xx answers by default: the form with its errors comes back as 200
        # there; a plain POST gets the 400 it deserves, with the same form.
        return _fragment(request, form, status=200 if request.htmx else 400)
    contact = form.save(commit=False)
    contact.organisation_id = request.user.organisation_id
    contact.save()
    audit_record(
        actor=request.user,
        action="contact.create",
        target=contact,
        detail={"monthly_statement": contact.monthly_statement, "language": contact.language},
    )
    return _done(request)


@login_required
@require_POST
def contact_update(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = access.contact_for_user(request.user, contact_id)
    value = request.POST.get("monthly_statement")
    if value not in {"0", "1"}:
        return HttpResponse("monthly_statement must be 0 or 1", status=400)
    contact.monthly_statement = value == "1"
    contact.save(update_fields=["monthly_statement", "updated_at"])
    audit_record(
        actor=request.user,
        action="contact.update",
        target=contact,
        detail={"monthly_statement": contact.monthly_statement},
    )
    return _done(request)


@login_required
@require_POST
def contact_delete(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = access.contact_for_user(request.user, contact_id)
    audit_record(actor=request.user, action="contact.delete", target=contact)
    contact.delete()
    return _done(request)
