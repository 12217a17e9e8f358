"""Comparison API: ``GET /api/v1/compare/?sites=1,2&start=YYYY-MM-DD&end=YYYY-MM-DD``.

One row per site with its ``id`` and the figures of the comparison page; without ``sites``,
every site the user may compare (the page's filters ``partner``, ``heat_network``, ``region``,
``status`` and ``selection`` work too). ``start``/``end`` are dates, end exclusive, read as
each site's local days. JSON, or CSV with ``Accept: text/csv`` or ``?format=csv``. A missing,
reversed or too long period is a 400 whose ``detail`` says why; an unknown site a 404;
roles without ``compare_sites`` (partners) a 403.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, renderer_classes
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import error
from apps.sites.models import Site

from . import figures, selectors
from .forms import CompareForm
from .selectors import SORT_KEYS, CompareError, Period, SiteFigures
from .serializers import ComparisonSerializer


class CompareCSVRenderer(BaseRenderer):
    """The comparison as the page's CSV; an error as a one-line ``detail`` CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):
        if isinstance(data, _Payload):
            return figures.comparison_csv(data.rows, data.period)
        detail = data.get("detail", "") if isinstance(data, dict) else str(data)
        out = io.StringIO()
        csv.writer(out, lineterminator="\r\n").writerows([["detail"], [str(detail)]])
        return out.getvalue()


class _Payload(dict):
    """The JSON document, carrying the rows for the CSV renderer (not serialised)."""

    def __init__(self, period: Period, rows: list[SiteFigures]) -> None:
        super().__init__(
            start=period.start.isoformat(),
            end=period.end.isoformat(),
            days=period.days,
            time_convention="site-local days [start, end)",
            columns=[{"key": c.key, "label": c.label, "unit": c.unit} for c in selectors.COLUMNS],
            sites=[r.as_dict() for r in rows],
        )
        self.rows, self.period = rows, period


def _param(name: str, kind: Any = str, **kwargs: Any) -> OpenApiParameter:
    return OpenApiParameter(name, kind, **kwargs)


@extend_schema(
    summary="Compare sites over a period",
    description=(
        "One row per site with the comparison page's figures over [start, end) in each "
        "site's local days. Without `sites`, every site you may compare, narrowed by the "
        "filters. JSON, or the page's CSV with `Accept: text/csv` or `?format=csv`."
    ),
    parameters=[
        _param(
            "sites",
            description="Site ids separated by commas (or repeated); default: every site.",
            examples=[OpenApiExample("two sites", value="1,2")],
        ),
        _param("start", OpenApiTypes.DATE, required=True, description="First day."),
        _param("end", OpenApiTypes.DATE, required=True, description="Day after the last."),
        _param("partner", int, description="Only this partner organisation's sites."),
        _param("heat_network", description="Only sites on this heat network."),
        _param("region", description="Only sites in this region."),
        _param("status", enum=Site.Status.values, description="Only sites in this status."),
        _param("selection", description="Only the sites of this saved selection (its key)."),
        _param("sort", enum=list(SORT_KEYS), default="code", description="Row order."),
        _param("dir", enum=["asc", "desc"], default="asc"),
        _param("format", enum=["json", "csv"], description="Instead of Accept."),
    ],
    responses={
        (200, "application/json"): ComparisonSerializer,
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="The page's CSV."),
        400: error(
            "A parameter is missing, invalid, reversed or the period too long.",
            "both start and end are required (YYYY-MM-DD, end exclusive)",
        ),
        403: error("Partners do not compare sites.", "Your role may not compare sites."),
        404: error("A site or selection that does not exist or is not yours.", "No such site: 9"),
    },
)
@api_view(["GET"])
@renderer_classes([JSONRenderer, CompareCSVRenderer, BrowsableAPIRenderer])
def compare(request: Request) -> Response:
    """Figures of the requested sites over [start, end), ordered by ``sort`` (default code)."""
    access.require(request.user, Action.COMPARE_SITES)
    params = request.query_params.copy()
    params.setdefault("sort", "code")
    params.setdefault("dir", "asc")
    try:
        query = CompareForm(params, bounded=True).query(request.user)
        result = selectors.compare_sites(sites=query.sites, period=query.period)
        rows = selectors.sort_rows(result.rows, query.sort, query.descending)
    except CompareError as exc:
        return Response({"detail": str(exc)}, status=400)
    response = Response(_Payload(query.period, rows))
    if request.accepted_renderer.format == "csv":
        name = f"heatsite-compare-{query.period.start}-{query.period.end}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
