"""The monthly statement e-mail: due once the month is settled, sent once per contact and month.

``send_due`` is what the beat task runs (hourly): for the previous calendar month, once every
site's days of it are final (``apps.planning.services.settled_until``), it makes one
``StatementMailing`` row per opted-in contact (the unique row is the idempotency key), then claims
and sends each pending one. The figures and PDFs are the statement's own
(``apps.heat.selectors.monthly_statement`` through ``apps.heat.statements``), so the e-mail, the
PDF, the page and the API agree. Each message is written in the contact's language.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import dateformat, formats, timezone, translation
from django.utils.translation import gettext as _

from apps.audit.services import audit_record
from apps.heat import selectors as heat_selectors
from apps.heat import statements
from apps.planning.services import next_month, settled_until
from apps.sites.models import Organisation, Site

from .models import PartnerContact, StatementMailing

log = logging.getLogger(__name__)
State = StatementMailing.State


class MailingError(ValueError):
    """Bad input to a mailing command (unknown month, unknown mailing)."""


@dataclass
class Outcome:
    month: date | None = None
    created: int = 0
    sent: int = 0
    failed: int = 0
    skipped: list[str] = field(default_factory=list)


def previous_month(now: datetime) -> date:
    """The first day of the calendar month before ``now``'s (UTC)."""
    first = now.astimezone(UTC).date().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


def is_settled(month: date, now: datetime) -> bool:
    """True once every day of ``month`` is final in every time zone."""
    return settled_until(now) >= next_month(month)


def stuck_after() -> timedelta:
    return timedelta(seconds=settings.STATEMENT_MAIL_STUCK)


def is_unknown(mailing: StatementMailing, now: datetime | None = None) -> bool:
    """A claimed message whose worker never reported back: it may or may not have left."""
    now = now or timezone.now()
    return (
        mailing.state == State.SENDING
        and mailing.claimed_at is not None
        and now - mailing.claimed_at > stuck_after()
    )


def _organisation_sites(organisation_id: int, month: date) -> list[Site]:
    """The partner's sites that had a meter reading before the month ended."""
    sites = []
    for site in Site.objects.filter(partner_id=organisation_id).order_by("code"):
        first = heat_selectors.first_reading_at(site.id)
        _, end = heat_selectors.month_bounds(site, month.year, month.month)
        if first is not None and first < end:
            sites.append(site)
    return sites


def plan_month(month: date) -> int:
    """Creates the pending rows for every opted-in contact; returns how many are new."""
    created = 0
    contacts = PartnerContact.objects.filter(
        monthly_statement=True, organisation__kind=Organisation.Kind.PARTNER
    ).select_related("organisation")
    for contact in contacts:
        try:
            with transaction.atomic():
                _, new = StatementMailing.objects.get_or_create(
                    organisation_id=contact.organisation_id,
                    email=contact.email.lower(),
                    month=month,
                    defaults={"contact": contact, "language": contact.language},
                )
        except IntegrityError:  # another run made it between our read and write
            new = False
        created += new
    return created


def send_due(now: datetime | None = None, *, month: date | None = None) -> Outcome:
    """Plans and sends the statement e-mails of ``month`` (default: the previous month), only
    once it is settled. Safe to run any number of times, from any number of workers."""
    now = now or timezone.now()
    month = month or previous_month(now)
    outcome = Outcome(month=month)
    if not is_settled(month, now):
        outcome.skipped.append(f"{month:%Y-%m} is not settled yet")
        return outcome
    outcome.created = plan_month(month)
    retry = Q(state=State.FAILED, attempts__lt=settings.STATEMENT_MAIL_ATTEMPTS)
    due = StatementMailing.objects.filter(Q(state=State.PENDING) | retry, month=month)
    for pk in due.values_list("pk", flat=True):
        state = send_one(pk, now=now)
        outcome.sent += state == State.SENT
        outcome.failed += state == State.FAILED
    return outcome


def _claim(pk: int, now: datetime) -> bool:
    claimable = Q(state=State.PENDING) | Q(
        state=State.FAILED, attempts__lt=settings.STATEMENT_MAIL_ATTEMPTS
    )
    return bool(
        StatementMailing.objects.filter(claimable, pk=pk).update(
            state=State.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    )


def send_one(pk: int, *, now: datetime | None = None) -> str | None:
    """Claims one mailing and sends it; returns its new state, or None if another worker (or an
    earlier run) has it. The claim commits before anything leaves."""
    now = now or timezone.now()
    if not _claim(pk, now):
        return None
    mailing = StatementMailing.objects.select_related("organisation").get(pk=pk)
    try:
        message, codes = build_message(mailing, now=now)
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        mailing.state, mailing.error = State.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        mailing.save(update_fields=["state", "error"])
        log.warning("statement e-mail %s to %s failed: %s", mailing.month, mailing.email, exc)
        _audit(mailing, "statement.mail", result="failed", detail={"error": mailing.error})
        return mailing.state
    mailing.state, mailing.sent_at, mailing.error, mailing.sites = State.SENT, now, "", codes
    mailing.save(update_fields=["state", "sent_at", "error", "sites"])
    _audit(mailing, "statement.mail", result="ok", detail={"sites": codes})
    return mailing.state


def _audit(mailing: StatementMailing, action: str, *, result: str, detail: dict, actor=None):
    audit_record(
        actor=actor,
        action=action,
        target=mailing,
        result=result,
        detail={
            "organisation": mailing.organisation.name,
            "month": f"{mailing.month:%Y-%m}",
            "email": mailing.email,
            **detail,
        },
    )


def _number(value: float | None, decimals: int) -> str | None:
    if value is None:
        return None
    return formats.number_format(value, decimals, use_l10n=True, force_grouping=True)


def build_message(mailing: StatementMailing, *, now: datetime) -> tuple[EmailMessage, list[str]]:
    """The e-mail in the contact's language: key figures per site, one PDF per site attached."""
    organisation = mailing.organisation
    with translation.override(mailing.language):
        sites, attachments = [], []
        for site in _organisation_sites(organisation.id, mailing.month):
            statement = heat_selectors.monthly_statement(
                site.id, mailing.month.year, mailing.month.month
            )
            doc = statements.statement_document(
                statement, partner=organisation.name, generated_at=now
            )
            sites.append(
                {
                    "code": site.code,
                    "name": site.name,
                    "energy": _number(doc["energy_kwh"], 1),
                    "coverage": _number(
                        None if doc["coverage"] is None else doc["coverage"] * 100, 1
                    ),
                    "hours_below": _number(doc["hours_below_contract"], 1),
                    "contract_min": _number(doc["contract_min_supply_c"], 1),
                }
            )
            attachments.append(
                (statements.filename(doc, "pdf"), statements.statement_pdf(doc), "application/pdf")
            )
        context: dict[str, Any] = {
            "organisation": organisation.name,
            "month_label": dateformat.format(mailing.month, "F Y"),
            "sites": sites,
            "contact_name": mailing.contact.name if mailing.contact else "",
            "site_url": settings.HEATSITE_BASE_URL.rstrip("/") + "/",
        }
        subject = render_to_string("mailings/email/statement_subject.txt", context).strip()
        body = render_to_string("mailings/email/statement_body.txt", context)
        if not sites:
            body += "\n" + _("None of your sites had heat readings this month.") + "\n"
    message = EmailMessage(subject, body, to=[mailing.email])
    for name, content, mimetype in attachments:
        message.attach(name, content, mimetype)
    return message, [s["code"] for s in sites]


def parse_month(value: str) -> date:
    try:
        year, month = statements.parse_month(value)
    except heat_selectors.HeatQueryError as exc:
        raise MailingError(str(exc)) from exc
    return date(year, month, 1)


def resend(mailing: StatementMailing, *, by) -> None:
    """An admin's decision to send again a failed, bounced or unknown message."""
    if mailing.state == State.SENT or (mailing.state == State.SENDING and not is_unknown(mailing)):
        raise MailingError(f"{mailing} is {mailing.state}: nothing to resend")
    StatementMailing.objects.filter(pk=mailing.pk).update(state=State.PENDING, attempts=0, error="")
    _audit(mailing, "statement.mail_resend", result="ok", detail={"was": mailing.state}, actor=by)


def record_bounce(email: str, month: date, *, reason: str, by=None) -> int:
    """Marks the month's message(s) to ``email`` bounced (reported by the mail system)."""
    rows = list(
        StatementMailing.objects.select_related("organisation").filter(
            email__iexact=email, month=month
        )
    )
    if not rows:
        raise MailingError(f"no statement e-mail to {email} for {month:%Y-%m}")
    for mailing in rows:
        mailing.state, mailing.error = State.BOUNCED, reason[:2000]
        mailing.save(update_fields=["state", "error"])
        _audit(mailing, "statement.mail_bounce", result="failed", detail={"reason": reason},
               actor=by)  # fmt: skip
    return len(rows)
