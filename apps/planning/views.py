"""Planner pages: compare sites side by side (table, charts, CSV) and save selections.

Every view requires ``Action.COMPARE_SITES`` (planners and admins; partners get a 403) and
reads sites only through ``access.sites_visible_to``. Nothing here controls hardware: the page
links to each site's page, where the viewer's own role decides what they may do.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.l10n import UnknownDialect, csv_dialect

from . import figures, selectors
from .forms import PERIODS, CompareForm, CompareQuery, SelectionForm
from .models import SiteSelection
from .selectors import COLUMNS, SERIES_METRICS, CompareError, SiteFigures

PAGE_SIZE = 100
SERIES_DEFAULT_SITES = 6


def _bad_request(request: HttpRequest, reason: str) -> HttpResponse:
    if request.headers.get("accept", "").startswith("application/json"):
        return JsonResponse({"detail": reason}, status=400)
    context = {"status": 400, "title": _("Bad request"), "message": reason}
    return render(request, "error.html", context, status=400)


def _compare(request: HttpRequest) -> tuple[CompareQuery, list[SiteFigures]]:
    access.require(request.user, Action.COMPARE_SITES)
    query = CompareForm(request.GET).query(request.user)
    result = selectors.compare_sites(sites=query.sites, period=query.period)
    return query, selectors.sort_rows(result.rows, query.sort, query.descending)


def _query_string(request: HttpRequest, **changes: Any) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    return params.urlencode()


@login_required
@require_GET
def compare(request: HttpRequest) -> HttpResponse:
    """The comparison page: filters, the sortable table (paged), charts, CSV and selections."""
    try:
        query, rows = _compare(request)
    except CompareError as exc:
        return _bad_request(request, str(exc))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    headers = []
    for key, label in [("code", _("Site")), *((c.key, c.heading) for c in COLUMNS)]:
        active = key == query.sort
        direction = "asc" if active and query.descending else "desc"
        if key == "code" and not active:
            direction = "asc"
        headers.append(
            {
                "key": key,
                "label": label,
                "active": active,
                "descending": query.descending,
                "href": "?" + _query_string(request, sort=key, dir=direction, page=None),
            }
        )
    table = [
        {"row": r, "cells": [figures.cell(r, c.key) for c in COLUMNS]} for r in page.object_list
    ]
    sort_column = query.sort if query.sort in selectors.NUMERIC_KEYS else "heat_mwh"
    form = CompareForm(request.GET)
    form.is_valid()
    context = {
        "form": form,
        "periods": PERIODS,
        "query": query,
        "period": query.period,
        "headers": headers,
        "table": table,
        "page": page,
        "total": len(rows),
        "page_query": _query_string(request, page=None),
        "csv_href": reverse("compare-csv") + "?" + _query_string(request, page=None),
        "api_href": reverse("api:compare")
        + "?"
        + urlencode(
            {"start": query.period.start, "end": query.period.end}
            | ({"sites": ",".join(map(str, query.site_ids))} if query.site_ids else {})
        ),
        "columns": [c for c in COLUMNS if c.numeric],
        "sort_column": sort_column,
        "series_metrics": [(key, _(label)) for key, label in SERIES_METRICS.items()],
        "bar_figure": figures.bar_figure(rows, sort_column, query.period),
        "selections": SiteSelection.objects.order_by("-created_at")[:20],
        "statuses": form.fields["status"].choices,
    }
    return render(request, "planning/compare.html", context)


@login_required
@require_GET
def compare_chart(request: HttpRequest) -> HttpResponse:
    """A plotly figure as JSON: ``?chart=bar|map|scatter|series&column=...`` (+ the query).

    ``series`` draws the sites ticked (``ids``) or the first rows of the table in its order.
    """
    try:
        query, rows = _compare(request)
        chart = request.GET.get("chart", "bar")
        column = request.GET.get("column") or "heat_mwh"
        if chart == "bar":
            figure = figures.bar_figure(rows, column, query.period)
        elif chart == "map":
            figure = figures.map_figure(rows, column, query.period)
        elif chart == "scatter":
            figure = figures.scatter_figure(rows, query.period)
        elif chart == "series":
            metric = request.GET.get("metric") or "heat_mwh"
            wanted = [int(v) for v in request.GET.getlist("ids") if v.isdigit()]
            in_table = {r.id: r for r in rows}
            ids = [i for i in wanted if i in in_table] or [
                r.id for r in rows[:SERIES_DEFAULT_SITES]
            ]
            series = selectors.compare_series(site_ids=ids, period=query.period, metric=metric)
            names = {i: f"{in_table[i].code} {in_table[i].name}" for i in ids}
            figure = figures.series_figure(series, names, metric, query.period)
        else:
            raise CompareError(
                _("unknown chart %(chart)r: use %(charts)s")
                % {"chart": chart, "charts": ", ".join(figures.CHARTS)}
            )
    except CompareError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    return JsonResponse(figure)


@login_required
@require_GET
def compare_csv(request: HttpRequest) -> HttpResponse:
    """The whole table (every page) as CSV, in the table's order."""
    try:
        query, rows = _compare(request)
    except CompareError as exc:
        return _bad_request(request, str(exc))
    try:
        dialect = csv_dialect(request.GET.get("dialect"))
    except UnknownDialect as exc:
        return _bad_request(request, str(exc))
    body = figures.comparison_csv(rows, query.period, dialect)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    name = f"heatsite-compare-{query.period.start}-{query.period.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_POST
def selection_save(request: HttpRequest) -> HttpResponse:
    """Saves the ticked sites under a name; redirects to the shareable comparison URL."""
    access.require(request.user, Action.COMPARE_SITES)
    form = SelectionForm(request.POST)
    try:
        if not form.is_valid():
            raise CompareError(_("a selection needs a name (at most 120 characters)"))
        picked = CompareForm(request.POST.copy()).query(request.user)
        if not picked.site_ids:
            raise CompareError(_("tick at least one site to save a selection"))
    except CompareError as exc:
        return _bad_request(request, str(exc))
    selection = SiteSelection.objects.create(
        name=form.cleaned_data["name"], created_by=request.user
    )
    selection.sites.set(picked.sites)
    params = {"selection": selection.key}
    for key in ("period", "month", "start", "end"):
        if request.POST.get(key):
            params[key] = request.POST[key]
    return redirect(reverse("compare") + "?" + urlencode(params))
