"""Heat API: a site's series and its monthly statement, under the pages' access rules.

``GET /api/v1/sites/{id}/heat/?start=&end=&resolution=raw|hour|day`` (without ``start`` and
``end``: the last 24 hours, the site page's day chart).
``GET /api/v1/sites/{id}/heat/statement/?month=YYYY-MM`` (JSON; CSV with ``Accept: text/csv``
or ``?format=csv``).

Bad parameters are a 400 whose ``detail`` says what is wrong; another partner's site is a 404.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, renderer_classes
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import error, parse_instant

from . import figures, selectors, statements
from .selectors import HeatQueryError
from .serializers import SiteHeatSerializer, StatementSerializer

# A series asked for without start: this long before its end (without end: now).
DEFAULT_SPAN = timedelta(hours=24)


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
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise HeatQueryError(f"{name} {exc}") from None


def _bad(reason: str) -> Response:
    return Response({"detail": reason}, status=400)


_SITE_HEAT_EXAMPLE = {
    "site_id": 1,
    "site_code": "lyo-0001",
    "timezone": "Europe/Paris",
    "resolution": "hour",
    "start": "2026-01-10T12:00:00+01:00",
    "end": "2026-01-10T13:00:00+01:00",
    "contract_min_supply_c": 60.0,
    "points": [
        {
            "ts": "2026-01-10T12:00:00+01:00",
            "energy_kwh": 4.3,
            "energy_power_kwh": 4.28,
            "power_kw": 4.28,
            "supply_min_c": 68.9,
            "supply_avg_c": 70.1,
            "supply_max_c": 71.0,
            "return_avg_c": 55.2,
            "flow_avg_m3h": 0.25,
            "hours_below": 0.0,
            "coverage": 1.0,
        }
    ],
}


@extend_schema(
    summary="A site's heat series",
    description=(
        "Readings (`raw`) or hourly/daily buckets of a site in [start, end); a gap is a point "
        "of nulls. Without `start` and `end`: the last 24 hours (the site page's day chart); "
        "without `start`: 24 hours before `end`; without `end`: now. Raw is limited to 7 "
        "days, hour to 366 days. Partners and planners get no meter serial."
    ),
    parameters=[
        OpenApiParameter(
            "start",
            OpenApiTypes.DATETIME,
            description="Inclusive; ISO 8601 with offset. Default: 24 hours before `end`.",
            examples=[OpenApiExample("Paris noon", value="2026-01-10T12:00:00+01:00")],
        ),
        OpenApiParameter(
            "end",
            OpenApiTypes.DATETIME,
            description="Exclusive; ISO 8601 with offset. Default: now.",
        ),
        OpenApiParameter(
            "resolution", str, enum=["raw", "hour", "day"], default="raw", description=""
        ),
    ],
    responses={
        200: OpenApiResponse(
            SiteHeatSerializer, examples=[OpenApiExample("hourly", value=_SITE_HEAT_EXAMPLE)]
        ),
        400: error("A parameter is invalid, reversed or too long.", "end must be after start"),
    },
)
@api_view(["GET"])
def site_heat(request: Request, pk: int) -> Response:
    """Readings (raw) or hourly/daily buckets of a site in [start, end); gaps are nulls."""
    site = access.site_for_user(request.user, pk, Action.VIEW_HEAT)
    resolution = request.query_params.get("resolution") or "raw"
    try:
        end = _instant(request.query_params, "end") or timezone.now()
        start = _instant(request.query_params, "start") or end - DEFAULT_SPAN
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
            "start": start.astimezone(tz).isoformat(),
            "end": end.astimezone(tz).isoformat(),
            "contract_min_supply_c": float(site.contract_min_supply_c),
            "points": figures.points_json(points, tz),
        }
    )


@extend_schema(
    summary="A site's monthly heat-delivery statement",
    description=(
        "The figures of the statement's CSV and PDF downloads, one line per meter. JSON, or "
        "the billing CSV with `Accept: text/csv` or `?format=csv` (a 400 is then a one-cell "
        "CSV)."
    ),
    parameters=[
        OpenApiParameter(
            "month",
            str,
            required=True,
            pattern=r"^\d{4}-\d{2}$",
            description="The site-local calendar month, YYYY-MM.",
            examples=[OpenApiExample("January 2026", value="2026-01")],
        ),
        OpenApiParameter("format", str, enum=["json", "csv"], description="Instead of Accept."),
    ],
    responses={
        (200, "application/json"): StatementSerializer,
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The billing CSV."),
        400: error("`month` is missing or impossible.", "month must be YYYY-MM, got '2026-13'"),
    },
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
