"""Firmware compliance on pages: the fleet's versions against each SKU's desired bundle
(filterable, paged, htmx like the fleet page), its CSV export, and "make desired" on a bundle.

Engineers and admins; planners 403; partners 404 (like the campaign pages they lead to).
"""

from __future__ import annotations

import csv
import io
from datetime import tzinfo
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import access
from apps.accounts.policy import Action
from apps.firmware.compliance import (
    CSV_HEADER,
    STATUSES,
    ComplianceQuery,
    ComplianceQueryError,
    compliance_compute,
    compliance_csv_rows,
)
from apps.firmware.desired import desired_bundle_set
from apps.firmware.models import FirmwareBundle

PAGE_SIZE = 50


def _campaign_href(query: ComplianceQuery, result) -> str:
    """The new-campaign page with the filter: the SKU's desired bundle, the site, and the
    compliance filter itself (status "behind" unless another was chosen)."""
    params = {"sku": query.sku, "status": query.status or "behind", "site": query.site}
    desired = result.desired.get(query.sku) or next(
        (d for sku, d in result.desired.items() if sku.lower() == query.sku.lower()), None
    )
    if desired is not None:
        params["bundle"] = str(desired.bundle_id)
    if query.site:
        params["sites"] = query.site
    if query.component and query.version:
        params["current"] = f"{query.component}={query.version}"
    return reverse("firmware-campaign-new") + "?" + urlencode(params)


@login_required
@require_GET
def compliance(request: HttpRequest) -> HttpResponse:
    nodes = access.compliance_nodes_for_user(request.user)
    refusal = ""
    try:
        query = ComplianceQuery.from_params(request.GET)
    except ComplianceQueryError as exc:
        refusal, query = str(exc), ComplianceQuery()
    result = compliance_compute(nodes=nodes, query=query)
    page = Paginator(result.rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for row in page:
        if row.read_at is not None:
            # A string: the date filter would move it to the viewer's timezone.
            local = timezone.localtime(row.read_at, _tz(row.timezone))
            row.read_local = local.strftime("%Y-%m-%d %H:%M %Z")
    filters = query.as_params()
    context = {
        "page": page,
        "query": query,
        "summary": result.summary,
        "desired": result.desired,
        "statuses": STATUSES,
        "refusal": refusal,
        "filters": urlencode(filters),
        "csv_href": reverse("firmware-compliance-csv") + "?" + urlencode(filters),
        "campaign_href": _campaign_href(query, result),
    }
    status = 400 if refusal else 200
    if request.htmx and request.htmx.target == "compliance-table":
        return render(request, "firmware/_compliance_table.html", context, status=status)
    return render(request, "firmware/compliance.html", context, status=status)


def _tz(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return timezone.get_default_timezone()


def _cell(value: str) -> str:
    # A cell starting like a formula would run in a spreadsheet: versions come from BMCs.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


@login_required
@require_GET
def compliance_csv(request: HttpRequest) -> HttpResponse:
    """Every node matching the filters (all pages), one line per node and component."""
    nodes = access.compliance_nodes_for_user(request.user)
    try:
        query = ComplianceQuery.from_params(request.GET)
    except ComplianceQueryError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    result = compliance_compute(nodes=nodes, query=query)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in compliance_csv_rows(result):
        writer.writerow([_cell(str(v)) for v in line])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="heatsite-compliance-{stamp}.csv"'
    return response


@login_required
@require_POST
def bundle_make_desired(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(request.user, Action.MANAGE_FIRMWARE)
    bundle = get_object_or_404(FirmwareBundle.objects.select_related("profile"), pk=pk)
    desired_bundle_set(actor=request.user, bundle_id=bundle.pk)
    messages.success(
        request,
        _("Bundle %(version)s is now the desired bundle for %(sku)s.")
        % {"version": bundle.version, "sku": bundle.profile.sku},
    )
    return redirect("firmware-bundle", pk=bundle.pk)
