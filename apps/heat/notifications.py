"""E-mails about heat alarms, through Django's mail backend.

Who hears of what (the reasoning is in :mod:`apps.heat.alarms`):

* engineers — every active user with role ``engineer`` and an e-mail address, for every alarm,
  with the meter named;
* partners — the active users with role ``partner`` of the site's partner organisation, for
  partner-visible alarms only, with a text built from a whitelist (site, kind, times in the
  site's time zone, the detail sentence, which never names hardware for these alarms).

One message per recipient, so nobody sees who else was told.
"""

from __future__ import annotations

from typing import Any

from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string

from apps.accounts.languages import language_of
from apps.accounts.models import Role, User

from .alarm_text import alarm_detail
from .models import HeatAlarm


def _recipient_users(alarm: HeatAlarm) -> dict[str, dict[str, User]]:
    """Per audience, one user per e-mail address (whose language the message is written in)."""
    users = User.objects.filter(is_active=True).exclude(email="").order_by("id")
    out: dict[str, dict[str, User]] = {"engineer": {}, "partner": {}}
    for user in users.filter(role=Role.ENGINEER):
        out["engineer"].setdefault(user.email, user)
    if alarm.partner_visible:
        for user in users.filter(role=Role.PARTNER, organisation_id=alarm.site.partner_id):
            out["partner"].setdefault(user.email, user)
    return out


def alarm_recipients(alarm: HeatAlarm) -> dict[str, list[str]]:
    """E-mail addresses per audience (``engineer``, ``partner``) for this alarm."""
    return {audience: sorted(users) for audience, users in _recipient_users(alarm).items()}


def _context(alarm: HeatAlarm, change: str, audience: str) -> dict[str, Any]:
    tz = alarm.site.tzinfo
    return {
        "audience": audience,
        "change": change,
        "kind_label": alarm.get_kind_display(),
        "site_name": alarm.site.name,
        "site_code": alarm.site.code,
        "timezone": alarm.site.timezone,
        "raised_at": alarm.raised_at.astimezone(tz),
        "cleared_at": alarm.cleared_at.astimezone(tz) if alarm.cleared_at else None,
        "detail": alarm_detail(alarm),
        "meter_serial": alarm.meter.serial if audience == "engineer" and alarm.meter else None,
    }


def alarm_notify(alarm_id: int, change: str) -> int:
    """Send the e-mails for one raise or clear; returns the number of messages sent."""
    alarm = HeatAlarm.objects.select_related("site", "meter").get(pk=alarm_id)
    messages = []
    for audience, users in _recipient_users(alarm).items():
        for address in sorted(users):
            # Each message in its reader's language (their choice, else English).
            with language_of(users[address]):
                context = _context(alarm, change, audience)
                subject = render_to_string("heat/email/alarm_subject.txt", context).strip()
                body = render_to_string("heat/email/alarm_body.txt", context)
            messages.append(EmailMessage(subject, body, to=[address]))
    if not messages:
        return 0
    return get_connection().send_messages(messages) or 0
