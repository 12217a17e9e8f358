"""Firmware on pages: a node's updates (a fragment of the node page), and the image a BMC
fetches for a SimpleUpdate: no login (a BMC has none), a signed one-time token instead
(`apps.firmware.image_urls`)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from apps.accounts import access
from apps.accounts.policy import Action
from apps.firmware import selectors
from apps.firmware.image_urls import ImageUrlRefused, image_url_open


@login_required
@require_GET
def node_firmware_updates_fragment(request: HttpRequest, node_id: int) -> HttpResponse:
    """The node page's firmware panel: updates in progress (it refreshes itself) and history."""
    node = access.node_for_user(request.user, node_id, Action.VIEW_HARDWARE)
    updates = list(selectors.node_firmware_updates(node))
    return render(
        request,
        "firmware/_update_history.html",
        {
            "node": node,
            "site": node.site,
            "updates": updates,
            "active": any(u.is_active for u in updates),
        },
    )


@require_GET
def firmware_image(request, token: str):
    try:
        update = image_url_open(token, remote=request.META.get("REMOTE_ADDR", ""))
    except ImageUrlRefused as refused:
        return JsonResponse({"detail": gettext(refused.reason)}, status=refused.status)
    image = update.image
    if request.GET.get("have") == image.sha256:
        # a site gateway's relay that keeps these bytes: the yes (consumed, audited) is enough
        response = HttpResponse(status=204)
        response["X-Content-SHA256"] = image.sha256
        return response
    response = FileResponse(
        image.file.open("rb"),
        content_type="application/octet-stream",
        as_attachment=True,
        filename=f"{image.component.lower()}-{image.version}.bin",
    )
    response["Cache-Control"] = "no-store"
    response["X-Content-SHA256"] = image.sha256
    return response
