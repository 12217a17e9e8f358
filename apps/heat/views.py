"""Heat pages: the live chart's data, the partner summary, alarms, monthly statements.

Every view reaches the site through ``access.site_for_user(user, id, Action.VIEW_HEAT)``: another
partner's site is a 404, a role without VIEW_HEAT a 403. Bad parameters (unknown window,
impossible month) are a 400 with the reason, never a traceback.

``site_heat_context`` and ``live_power`` are the reads the fleet and site pages (apps.sites)
embed; they only call heat selectors and the pure figure builders.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.db.models.functions import TruncMonth
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.l10n import UnknownDialect, csv_dialect, local_datetime
from apps.sites.models import Site

from . import figures, selectors, statements
from .models import DailyRollup
from .selectors import HeatQueryError


def _partner_view(user: Any) -> bool:
    # Engineering alarms (and their meter details) are for roles that may act on them.
    return not access.can(user, Action.VIEW_ALARMS)


def _bad_request(request: HttpRequest, reason: str) -> HttpResponse:
    if request.headers.get("accept", "").startswith("application/json"):
        return JsonResponse({"detail": reason}, status=400)
    context = {"status": 400, "title": _("Bad request"), "message": reason}
    return render(request, "error.html", context, status=400)


# --- reads embedded by the site and fleet pages -------------------------------------------------


def site_heat_context(site: Site, user: Any, now: datetime | None = None) -> dict[str, Any]:
    """Everything heat on the site page: current values, summary rows, contract state, the
    initial live figure and active alarms (partner-visible only for partners and planners)."""
    now = now or timezone.now()
    summary = selectors.site_heat_summary(site.id, now)
    start, end, resolution = figures.window_range("live", now)
    points = selectors.site_series(site.id, start, end, resolution)
    return {
        "heat_current": figures.current_values(summary),
        "heat_rows": figures.summary_rows(summary),
        "heat_summary": summary,
        "heat_figure": figures.heat_figure(
            points,
            resolution=resolution,
            tz=site.tzinfo,
            contract_min_c=float(site.contract_min_supply_c),
            start=start,
            end=end,
        ),
        "heat_windows": [(key, label) for key, (_, _, label) in figures.WINDOWS.items()],
        "heat_alarms": selectors.active_alarms([site.id], partner_visible_only=_partner_view(user)),
    }


def fleet_alarm_counts(site_ids: list[int], user: Any) -> dict[int, int]:
    """Active alarms per site, as the user may see them (badges on the fleet table)."""
    counts: dict[int, int] = {}
    for alarm in selectors.active_alarms(site_ids, partner_visible_only=_partner_view(user)):
        counts[alarm.site_id] = counts.get(alarm.site_id, 0) + 1
    return counts


# --- pages and fragments -------------------------------------------------------------------------


@login_required
def site_heat_chart(request: HttpRequest, site_id: int) -> HttpResponse:
    """JSON plotly figure of a chart window (``?window=live|day|week|month|year``)."""
    site = access.site_for_user(request.user, site_id, Action.VIEW_HEAT)
    window = request.GET.get("window", "live")
    try:
        start, end, resolution = figures.window_range(window, timezone.now())
    except HeatQueryError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    points = selectors.site_series(site.id, start, end, resolution)
    figure = figures.heat_figure(
        points,
        resolution=resolution,
        tz=site.tzinfo,
        contract_min_c=float(site.contract_min_supply_c),
        window=window,
        start=start,
        end=end,
    )
    return JsonResponse(figure)


@login_required
def site_heat_summary(request: HttpRequest, site_id: int) -> HttpResponse:
    """The heat summary fragment (htmx): delivered heat, contract hours, availability, alarms."""
    site = access.site_for_user(request.user, site_id, Action.VIEW_HEAT)
    context = {"site": site, **site_heat_context(site, request.user)}
    return render(request, "heat/_summary.html", context)


@login_required
def site_heat_alarms(request: HttpRequest, site_id: int) -> HttpResponse:
    """Alarm history of a site (partners and planners: the partner-visible alarms only)."""
    site = access.site_for_user(request.user, site_id, Action.VIEW_HEAT)
    alarms = selectors.alarm_history(site.id, partner_visible_only=_partner_view(request.user))
    return render(request, "heat/alarms.html", {"site": site, "alarms": alarms})


@login_required
def statement_list(request: HttpRequest, site_id: int) -> HttpResponse:
    """Months with readings, newest first, with the heat each delivered (from daily rollups)."""
    site = access.site_for_user(request.user, site_id, Action.VIEW_HEAT)
    first = selectors.first_reading_at(site.id)
    months = figures.month_options(first, timezone.now(), site.tzinfo)
    energy = {
        row["m"].strftime("%Y-%m"): row["kwh"]
        for row in DailyRollup.objects.filter(site_id=site.id)
        .annotate(m=TruncMonth("day"))
        .values("m")
        .annotate(kwh=Sum("energy_kwh"))
    }
    rows = [
        {"month": m, "label": statements.month_label(m), "energy": figures.energy_text(kwh)}
        for m in months
        for kwh in [energy.get(m)]
    ]
    return render(request, "heat/statements.html", {"site": site, "months": rows})


def _statement_doc(request: HttpRequest, site_id: int, month: str) -> tuple[Site, dict[str, Any]]:
    site = access.site_for_user(request.user, site_id, Action.VIEW_HEAT)
    year, number = statements.parse_month(month)
    statement = selectors.monthly_statement(site.id, year, number)
    doc = statements.statement_document(
        statement, partner=site.partner.name, generated_at=timezone.now()
    )
    return site, doc


@login_required
def statement_detail(request: HttpRequest, site_id: int, month: str) -> HttpResponse:
    try:
        site, doc = _statement_doc(request, site_id, month)
    except HeatQueryError as exc:
        return _bad_request(request, str(exc))
    lines = [
        {
            **ln,
            "coverage_pct": statements.percent(ln["coverage"], localised=True),
            "start_at_text": local_datetime(ln["start_reading_at"]),
            "end_at_text": local_datetime(ln["end_reading_at"]),
        }
        for ln in doc["lines"]
    ]
    context = {
        "site": site,
        "doc": doc,
        "lines": lines,
        "month_label": statements.month_label(doc["month"]),
        "period_start": local_datetime(doc["period_start"]),
        "period_end": local_datetime(doc["period_end"]),
        "generated_at": local_datetime(doc["generated_at"]),
        "coverage_pct": statements.percent(doc["coverage"], localised=True),
    }
    return render(request, "heat/statement.html", context)


@login_required
def statement_csv(request: HttpRequest, site_id: int, month: str) -> HttpResponse:
    try:
        dialect = csv_dialect(request.GET.get("dialect"))
        _, doc = _statement_doc(request, site_id, month)
    except (HeatQueryError, UnknownDialect) as exc:
        return _bad_request(request, str(exc))
    response = HttpResponse(
        statements.statement_csv(doc, dialect), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{statements.filename(doc, "csv")}"'
    return response


@login_required
def statement_pdf(request: HttpRequest, site_id: int, month: str) -> HttpResponse:
    try:
        _, doc = _statement_doc(request, site_id, month)
    except HeatQueryError as exc:
        return _bad_request(request, str(exc))
    response = HttpResponse(statements.statement_pdf(doc), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{statements.filename(doc, "pdf")}"'
    return response
