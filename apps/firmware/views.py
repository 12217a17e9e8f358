"""The image a BMC fetches for a SimpleUpdate: no login (a BMC has none), a signed one-time
token instead (`apps.firmware.image_urls`)."""

from __future__ import annotations

from django.http import FileResponse, JsonResponse
from django.views.decorators.http import require_GET

from apps.firmware.image_urls import ImageUrlRefused, image_url_open


@require_GET
def firmware_image(request, token: str):
    try:
        update = image_url_open(token, remote=request.META.get("REMOTE_ADDR", ""))
    except ImageUrlRefused as refused:
        return JsonResponse({"detail": refused.reason}, status=refused.status)
    image = update.image
    response = FileResponse(
        image.file.open("rb"),
        content_type="application/octet-stream",
        as_attachment=True,
        filename=f"{image.component.lower()}-{image.version}.bin",
    )
    response["Cache-Control"] = "no-store"
    response["X-Content-SHA256"] = image.sha256
    return response
