"""The audit log page: every recorded action, newest first, its details as readable fields."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent

# Float noise as ``str(float)`` writes it (1.2000000000000002): seven or more decimals.
FLOAT_NOISE = re.compile(r"(?<![\w.])(\d+\.\d{7,})(?![\w.])")


def _number(value: float) -> str:
    """Up to three decimals, trailing zeros dropped; tiny values keep three significant digits."""
    if value != 0 and abs(value) < 0.001:
        return f"{value:.3g}"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _number(value)
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "—"
    # Older records carry floats already written into their text.
    return FLOAT_NOISE.sub(lambda m: _number(float(m[1])), str(value))


def _empty(value: Any) -> bool:
    """Nothing to show: None, a blank text, an empty list or object. 0 and False are values."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return not value
    return False


def detail_fields(detail: Any, prefix: str = "") -> list[tuple[str, str]]:
    """An event's detail as ``(label, value)`` pairs for a definition list: nested objects
    flattened to ``outer · inner`` labels, numbers rounded for people, secrets already masked
    when the event was written (``services.audit_record``). Empty fields are left out (a
    "reason: (empty)" row says nothing); zeros and "no" stay, they are values."""
    if not isinstance(detail, dict):
        return [] if _empty(detail) else [(prefix or "detail", _text(detail))]
    fields: list[tuple[str, str]] = []
    for key, value in detail.items():
        if _empty(value):
            continue
        label = f"{prefix} · {key}" if prefix else str(key)
        label = label.replace("_", " ")
        if isinstance(value, dict):
            fields.extend(detail_fields(value, label))
        else:
            fields.append((label, _text(value)))
    return fields


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.VIEW_AUDIT)
    events = AuditEvent.objects.select_related("site")
    action = request.GET.get("action", "").strip()
    if action:
        events = events.filter(action__startswith=action)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    rows = [(event, detail_fields(event.detail)) for event in page]
    return render(request, "audit/audit_log.html", {"page": page, "rows": rows, "action": action})
