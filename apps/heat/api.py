"""Heat API: a site's series and its monthly statement, under the pages' access rules.

``GET /api/v1/sites/{id}/heat/?start=&end=&resolution=raw|hour|day``
``GET /api/v1/sites/{id}/heat/statement/?month=YYYY-MM`` (JSON; CSV with ``Accept: text/csv``
or ``?format=csv``).

Bad parameters are a 400 whose ``detail`` says what is wrong; another partner's site is a 404.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.decorators import api_view, renderer_classes
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action

from . import figures, selectors, statements
from .selectors import HeatQueryError

# A "+01:00" offset sent unencoded in a query string arrives as " 01:00".
_SPACE_OFFSET = re.compile(r" (\d{2}(:?\d{2})?)$")


class StatementCSVRenderer(BaseRenderer):
    """Renders a statement document as the billing CSV, and errors as a one-cell CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        if isinstance(data, dict) and "lines" in data:
            return statements.statement_csv(data)
        detail = data.get("detail", "") if isinstance(data, dict) else str(data)
        return statements.error_csv(str(detail))


def _instant(params: Any, name: str) -> datetime | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    value = _SPACE_OFFSET.sub(r"+\1", value.strip())
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise HeatQueryError(f"{name} is not an ISO 8601 date-time: {params.get(name)!r}")
    if parsed.tzinfo is None:
        raise HeatQueryError(f"{name} must carry a UTC offset (e.g. +01:00 or Z)")
    return parsed


def _bad(reason: str) -> Response:
    return Response({"detail": reason}, status=400)


@api_view(["GET"])
def site_heat(request: Request, pk: int) -> Response:
    """Readings (raw) or hourly/daily buckets of a site in [start, end); gaps are nulls."""
    site = access.site_for_user(request.user, pk, Action.VIEW_HEAT)
    resolution = request.query_params.get("resolution", "raw")
    try:
        start = _instant(request.query_params, "start")
        end = _instant(request.query_params, "end")
        points = selectors.site_series(site.id, start, end, resolution)  # type: ignore[arg-type]
    except HeatQueryError as exc:
        return _bad(str(exc))
    if not access.can(request.user, Action.VIEW_HARDWARE):
        # Whitelist for roles that never see hardware: the meter serial stays out of series.
        points = [{k: v for k, v in p.items() if k != "meter"} for p in points]
    tz = site.tzinfo
    return Response(
        {
            "site_id": site.id,
            "site_code": site.code,
            "timezone": site.timezone,
            "resolution": resolution,
            "start": start.astimezone(tz).isoformat() if start else None,
            "end": end.astimezone(tz).isoformat() if end else None,
            "contract_min_supply_c": float(site.contract_min_supply_c),
            "points": figures.points_json(points, tz),
        }
    )


@api_view(["GET"])
@renderer_classes([JSONRenderer, StatementCSVRenderer, BrowsableAPIRenderer])
def site_heat_statement(request: Request, pk: int) -> Response:
    """The monthly heat-delivery statement (the same figures as the CSV and PDF downloads)."""
    site = access.site_for_user(request.user, pk, Action.VIEW_HEAT)
    try:
        year, month = statements.parse_month(request.query_params.get("month"))
        statement = selectors.monthly_statement(site.id, year, month)
    except HeatQueryError as exc:
        return _bad(str(exc))
    doc = statements.statement_document(
        statement, partner=site.partner.name, generated_at=timezone.now()
    )
    response = Response(doc)
    if request.accepted_renderer.format == "csv":
        name = statements.filename(doc, "csv")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
