"""Firmware images and updates in the API: upload, request (202), follow.

Engineers upload and request (admins too, but an OnReset update ends in a power action, which
only engineers may cause); engineers and admins read. Partners never see hardware (404 on a
node's things, 403 on lists), planners get 403.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import error, field_errors, parse_query
from apps.firmware import services
from apps.firmware.campaign_text import said
from apps.firmware.images import BadImage
from apps.firmware.serializers import (
    FirmwareImageSerializer,
    FirmwareImageUploadSerializer,
    FirmwareUpdateQuerySerializer,
    FirmwareUpdateRequestSerializer,
    FirmwareUpdateSerializer,
)

_NO_FIRMWARE = error(
    "Your role may not manage firmware (partners, planners).", "Your role may not manage firmware."
)
_NO_HARDWARE = error(
    "Your role never sees hardware (partners, planners).", "Your role may not view hardware."
)
_LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    description="URL of the update, to poll until `state` is succeeded or failed.",
    response=[202],
)


@extend_schema(
    summary="Upload a firmware image",
    description=(
        "Multipart upload (`file`). Heatsite reads the image's manifest (component, version, "
        "SKU) and checks its payload against the manifest's SHA-256 before keeping it; the "
        "stored image is never served as a file, only through one-time signed URLs to BMCs. "
        "The same bytes uploaded again answer 200 with the image already kept. Audited."
    ),
    request={"multipart/form-data": FirmwareImageUploadSerializer},
    responses={
        201: OpenApiResponse(FirmwareImageSerializer, description="Kept."),
        200: OpenApiResponse(FirmwareImageSerializer, description="Already kept (same SHA-256)."),
        400: field_errors("No file, or not an image Heatsite can send (`file` says why)."),
        403: _NO_FIRMWARE,
        415: error(
            "The body is not multipart/form-data.",
            'Unsupported media type "application/json" in request.',
        ),
    },
)
@api_view(["POST"])
@parser_classes([MultiPartParser, FormParser])
def firmware_image_upload(request):
    access.require(request.user, Action.MANAGE_FIRMWARE)
    data = FirmwareImageUploadSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    upload = data.validated_data["file"]
    try:
        image, created = services.firmware_image_store(
            actor=request.user, name=upload.name, data=upload.read()
        )
    except BadImage as bad:
        raise ValidationError({"file": [str(bad)]}) from bad
    return Response(
        FirmwareImageSerializer(image).data,
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


@extend_schema(
    summary="Update a node's firmware",
    description=(
        "Queues `image` for the node's Redfish BMC: `push` uploads it, `simple` has the BMC "
        "fetch it from a one-time signed URL. The update is tracked durably (lossy task "
        "monitors, BMC reboots, stuck tasks), `OnReset` ends in a reset through a power action, "
        "and the outcome is the version read back. One update in flight per node. Audited."
    ),
    request=FirmwareUpdateRequestSerializer,
    responses={
        202: OpenApiResponse(FirmwareUpdateSerializer, description="Queued."),
        400: field_errors("The body is invalid, or the node cannot take it (`detail`)."),
        403: error(
            "Your role may not manage firmware, or (OnReset) press power buttons.",
            "Your role may not power control.",
        ),
        409: error(
            "A firmware update is already in flight on this node.",
            "lyo-0001-n07 already has a firmware update in progress BIOS 3.0.7 (HX-500-WC) "
            "(bmc task running); wait for it to finish.",
        ),
    },
    parameters=[_LOCATION],
    examples=[
        OpenApiExample(
            "BMC fetches the image, applied at a reset",
            value={"image": 3, "method": "simple", "apply_time": "OnReset"},
            request_only=True,
        )
    ],
)
@api_view(["POST"])
def node_firmware_update(request, pk):
    node = access.node_for_user(request.user, pk, Action.MANAGE_FIRMWARE)
    data = FirmwareUpdateRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        update = services.firmware_update_request(
            actor=request.user,
            node=node,
            image=data.validated_data["image"],
            method=data.validated_data["method"],
            apply_time=data.validated_data["apply_time"],
            base_url=request.build_absolute_uri("/"),
        )
    except services.UpdateConflict as conflict:
        return Response({"detail": said(str(conflict))}, status=status.HTTP_409_CONFLICT)
    except services.UpdateRefused as refused:
        raise ValidationError({"detail": said(str(refused))}) from refused
    body = FirmwareUpdateSerializer(update).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


@extend_schema(
    summary="One firmware update",
    responses={200: FirmwareUpdateSerializer, 403: _NO_HARDWARE},
)
@api_view(["GET"])
def firmware_update_detail(request, pk):
    return Response(
        FirmwareUpdateSerializer(access.firmware_update_for_user(request.user, pk)).data
    )


class FirmwareUpdateList(generics.ListAPIView):
    serializer_class = FirmwareUpdateSerializer

    def get_queryset(self):
        access.require(self.request.user, Action.VIEW_HARDWARE)
        query = parse_query(FirmwareUpdateQuerySerializer, self.request)
        updates = access.firmware_updates_visible_to(self.request.user)
        if query.get("node") is not None:
            updates = updates.filter(node_id=query["node"])
        if query.get("state") is not None:
            updates = updates.filter(state=query["state"])
        if query.get("active") is True:
            updates = updates.filter(state__in=updates.model.ACTIVE)
        elif query.get("active") is False:
            updates = updates.exclude(state__in=updates.model.ACTIVE)
        return updates.select_related("node", "image", "image__uploaded_by", "requested_by")

    @extend_schema(
        summary="Firmware updates",
        description=(
            "Firmware updates, newest first, filterable by node and state; paginated like every "
            "list. Engineers and admins; partners and planners never see hardware (403)."
        ),
        parameters=[FirmwareUpdateQuerySerializer],
        responses={
            200: FirmwareUpdateSerializer(many=True),
            400: error(
                "A filter, `limit` or `offset` is invalid.", "node: A valid integer is required."
            ),
            403: _NO_HARDWARE,
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


firmware_update_list = FirmwareUpdateList.as_view()
