"""Firmware bundles in the API: upload a signed bundle (201), list, read, and its predictions.

Engineers and admins (manage firmware); partners and planners 403 (a bundle belongs to no site).
A refused bundle is 400 with ``detail`` (why) and ``code`` (which check), nothing kept.
"""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import error
from apps.firmware.bundle_serializers import (
    BundlePredictionSerializer,
    BundleUploadSerializer,
    FirmwareBundleSerializer,
)
from apps.firmware.bundles import BundleRefused, bundle_store
from apps.firmware.campaign_text import said
from apps.firmware.manifests import COMPONENTS_MAX, MANIFEST_MAX_BYTES
from apps.firmware.models import FirmwareBundle

_NO_FIRMWARE = error(
    "Your role may not manage firmware (partners, planners).", "Your role may not manage firmware."
)


class BundleRefusalSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why the bundle is refused.")
    code = serializers.CharField(
        help_text="Which check refused it: unsigned, unknown_key, bad_signature, "
        "digest_mismatch, size_mismatch, unknown_sku, duplicate_version, bad_image, "
        "dependency_cycle, unsatisfiable, missing_file, unexpected_file, bad_manifest, "
        "conflict (a concurrent upload; retry)."
    )


def _bundles():
    return FirmwareBundle.objects.select_related("profile", "uploaded_by").prefetch_related(
        "components__image", "predictions"
    )


def _refused(code: str, detail: str) -> Response:
    """A 400 whose ``detail`` is in the reader's language (``code`` stays the machine's)."""
    return Response({"detail": said(detail), "code": code}, status=status.HTTP_400_BAD_REQUEST)


def _read(upload, limit: int, what: str) -> bytes:
    if upload.size > limit:
        raise BundleRefused(
            "bad_manifest" if what == "manifest" else "bad_image",
            f"The {what} {upload.name} has {upload.size} bytes; at most {limit} are accepted.",
        )
    return upload.read()


class FirmwareBundleList(generics.ListAPIView):
    serializer_class = FirmwareBundleSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        access.require(self.request.user, Action.MANAGE_FIRMWARE)
        return _bundles()

    @extend_schema(
        summary="Firmware bundles",
        description="Uploaded bundles, newest first, paginated like every list.",
        responses={200: FirmwareBundleSerializer(many=True), 403: _NO_FIRMWARE},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Upload a firmware bundle",
        description=(
            "Multipart: `manifest` (JSON), `signature` (detached, over the canonical manifest) "
            "and each component image as an `images` part named as in the manifest. Kept only "
            "when signed by a trusted release key (`FIRMWARE_RELEASE_KEYS`), every image "
            "matching the manifest's SHA-256 and size and passing the image checks, for a known "
            "SKU, with satisfiable `requires`, and a version not uploaded before. On success "
            "every node of the SKU is predicted (`predictions_url`). Audited, refusals too."
        ),
        request={"multipart/form-data": BundleUploadSerializer},
        responses={
            201: OpenApiResponse(FirmwareBundleSerializer, description="Kept and predicted."),
            400: OpenApiResponse(
                BundleRefusalSerializer, description="Refused; nothing kept (`detail` says why)."
            ),
            403: _NO_FIRMWARE,
            415: error(
                "The body is not multipart/form-data.",
                'Unsupported media type "application/json" in request.',
            ),
        },
    )
    def post(self, request, *args, **kwargs):
        access.require(request.user, Action.MANAGE_FIRMWARE)
        files = request.FILES
        manifest = files.get("manifest")
        if manifest is None:
            return _refused("bad_manifest", _("No `manifest` part in the upload."))
        images = files.getlist("images")
        if len(images) > COMPONENTS_MAX:
            return _refused(
                "bad_manifest",
                _("At most %(count)s images per bundle.") % {"count": COMPONENTS_MAX},
            )
        limit = settings.FIRMWARE_IMAGE_MAX_BYTES
        try:
            signature = files.get("signature")
            bundle = bundle_store(
                actor=request.user,
                manifest=_read(manifest, MANIFEST_MAX_BYTES, "manifest"),
                signature=_read(signature, 4096, "signature") if signature else None,
                images={upload.name: _read(upload, limit, "image") for upload in images},
            )
        except BundleRefused as refused:
            return _refused(refused.code, str(refused))
        bundle = _bundles().get(pk=bundle.pk)
        return Response(FirmwareBundleSerializer(bundle).data, status=status.HTTP_201_CREATED)


@extend_schema(
    summary="One firmware bundle",
    responses={200: FirmwareBundleSerializer, 403: _NO_FIRMWARE, 404: error("No such bundle.")},
)
class FirmwareBundleDetail(generics.RetrieveAPIView):
    serializer_class = FirmwareBundleSerializer

    def get_queryset(self):
        access.require(self.request.user, Action.MANAGE_FIRMWARE)
        return _bundles()


class FirmwareBundlePredictions(generics.ListAPIView):
    serializer_class = BundlePredictionSerializer

    def get_queryset(self):
        user = self.request.user
        access.require(user, Action.MANAGE_FIRMWARE)
        bundle = get_object_or_404(FirmwareBundle, pk=self.kwargs["pk"])
        return (
            bundle.predictions.filter(node__in=access.nodes_visible_to(user))
            .select_related("node", "node__site")
            .order_by("node__name")
        )

    @extend_schema(
        summary="A bundle's per-node predictions",
        description=(
            "For every node of the bundle's SKU: the sha256 PCR0-7 it will quote once the "
            "bundle is applied (its configuration, plugged cards and approved variants "
            "included), or `reason` why no prediction is possible (such a node cannot be in a "
            "campaign). Paginated."
        ),
        responses={
            200: BundlePredictionSerializer(many=True),
            403: _NO_FIRMWARE,
            404: error("No such bundle."),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


firmware_bundle_list = FirmwareBundleList.as_view()
firmware_bundle_detail = FirmwareBundleDetail.as_view()
firmware_bundle_predictions = FirmwareBundlePredictions.as_view()
