"""Firmware bundles on pages: the list with the upload form (engineers, admins), and one bundle
with its components, signing key and what each node of its SKU will measure (or why not)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from apps.accounts import access
from apps.accounts.policy import Action
from apps.firmware.bundles import BundleRefused, bundle_store
from apps.firmware.campaign_text import said
from apps.firmware.manifests import COMPONENTS_MAX, MANIFEST_MAX_BYTES
from apps.firmware.models import FirmwareBundle


def _upload(request: HttpRequest) -> FirmwareBundle:
    files = request.FILES
    manifest, signature = files.get("manifest"), files.get("signature")
    images = files.getlist("images")
    if manifest is None:
        raise BundleRefused("bad_manifest", _("Choose the bundle's manifest (JSON)."))
    if len(images) > COMPONENTS_MAX:
        raise BundleRefused(
            "bad_manifest", _("At most %(count)s images per bundle.") % {"count": COMPONENTS_MAX}
        )
    limit = settings.FIRMWARE_IMAGE_MAX_BYTES
    if manifest.size > MANIFEST_MAX_BYTES or (signature and signature.size > 4096):
        raise BundleRefused("bad_manifest", _("The manifest or the signature is too large."))
    too_big = [i.name for i in images if i.size > limit]
    if too_big:
        raise BundleRefused(
            "bad_image",
            _("%(names)s: larger than %(limit)s bytes.")
            % {"names": ", ".join(too_big), "limit": limit},
        )
    return bundle_store(
        actor=request.user,
        manifest=manifest.read(),
        signature=signature.read() if signature else None,
        images={i.name: i.read() for i in images},
    )


@login_required
@require_http_methods(["GET", "POST"])
def bundle_list(request: HttpRequest) -> HttpResponse:
    access.require(request.user, Action.MANAGE_FIRMWARE)
    refusal = ""
    if request.method == "POST":
        try:
            bundle = _upload(request)
        except BundleRefused as refused:
            refusal = said(str(refused))
        else:
            messages.success(
                request,
                _("Bundle %(version)s for %(sku)s kept.")
                % {"version": bundle.version, "sku": bundle.profile.sku},
            )
            return redirect("firmware-bundle", pk=bundle.pk)
    bundles = FirmwareBundle.objects.select_related("profile", "uploaded_by").prefetch_related(
        "components", "predictions"
    )
    rows = []
    for bundle in bundles:
        predicted = sum(1 for p in bundle.predictions.all() if p.pcrs is not None)
        rows.append(
            {
                "bundle": bundle,
                "predicted": predicted,
                "impossible": len(bundle.predictions.all()) - predicted,
            }
        )
    return render(
        request,
        "firmware/bundles.html",
        {
            "rows": rows,
            "refusal": refusal,
            "trusted_keys": sorted(settings.FIRMWARE_RELEASE_KEYS),
        },
        status=400 if refusal else 200,
    )


@login_required
def bundle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access.require(request.user, Action.MANAGE_FIRMWARE)
    bundle = get_object_or_404(
        FirmwareBundle.objects.select_related("profile", "release", "uploaded_by"), pk=pk
    )
    predictions = list(
        bundle.predictions.filter(node__in=access.nodes_visible_to(request.user))
        .select_related("node", "node__site")
        .order_by("node__name")
    )
    for row in predictions:
        row.computed_local = timezone.localtime(row.computed_at, row.node.site.tzinfo)
        row.pcr_values = [(row.pcrs or {}).get(str(i), "") for i in range(8)]
    return render(
        request,
        "firmware/bundle_detail.html",
        {
            "bundle": bundle,
            "components": bundle.components.select_related("image"),
            "predictions": predictions,
            "predicted": sum(1 for p in predictions if p.pcrs is not None),
            "pcr_indices": list(range(8)),
            "key_trusted": bundle.signature_key_id in settings.FIRMWARE_RELEASE_KEYS,
        },
    )
