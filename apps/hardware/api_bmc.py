"""A node's BMC in the API: accept its Redfish certificate, re-read its details, its firmware,
rotate its password.

Engineers and admins; planners never see hardware (403), partners never see nodes (404).
"""

from __future__ import annotations

from django.db import transaction
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import error, field_errors
from apps.hardware import certificates, reach, rotation, selectors
from apps.hardware.drivers.base import BmcError
from apps.hardware.protocols import node_protocol
from apps.hardware.serializers import (
    BmcCertificateSerializer,
    CertificateAcceptSerializer,
    NodeFirmwareSerializer,
    RefreshQueuedSerializer,
)
from apps.sites.models import Node

_NO_HARDWARE = error(
    "Your role never sees hardware (planners).", "Your role may not view hardware."
)
_FINGERPRINT = "3f5a9c0e7b1d2a4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d"


def _certificate_body(node: Node) -> dict:
    shown = certificates.certificate_display(node) or {}
    return {
        "node": node.pk,
        "state": shown.get("state", "unseen"),
        "accepted": node.bmc_tls_fingerprint,
        "fingerprint": node.bmc_cert_fingerprint,
        "subject": node.bmc_cert_subject,
        "not_after": node.bmc_cert_not_after,
        "seen_at": node.bmc_cert_seen_at,
    }


@extend_schema(
    summary="Accept a node's BMC certificate",
    description=(
        "Pins the TLS certificate the node's Redfish BMC presented last (first contact, or "
        "after a certificate change), the one the node page shows. Send the `fingerprint` you "
        "were shown: if the BMC now presents another one, nothing is accepted (409). Audited."
    ),
    request=CertificateAcceptSerializer,
    responses={
        200: OpenApiResponse(BmcCertificateSerializer, description="Accepted."),
        400: field_errors("`fingerprint` is not a SHA-256 fingerprint."),
        403: error(
            "Your role may not manage BMCs (planners).", "Your role may not manage inventory."
        ),
        409: error(
            "The BMC presents another certificate than `fingerprint`, or none was seen yet.",
            "The BMC's certificate is not the one you were shown (shown 3f5a9c0e7b1d2a4c…, "
            "now 9e8d7c6b5a493827…); check it again.",
        ),
    },
    examples=[
        OpenApiExample("what I was shown", value={"fingerprint": _FINGERPRINT}, request_only=True)
    ],
)
@api_view(["POST"])
def node_certificate_accept(request, pk):
    node = access.node_for_user(request.user, pk, Action.MANAGE_INVENTORY)
    data = CertificateAcceptSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        node = certificates.certificate_accept(
            actor=request.user, node=node, expected=data.validated_data.get("fingerprint", "")
        )
    except BmcError as exc:
        raise ValidationError({"fingerprint": [exc.message]}) from exc
    except certificates.CertificateMismatch as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return Response(_certificate_body(node))


@extend_schema(
    summary="Re-read a node's BMC details",
    description=(
        "Queues a read of inventory, firmware versions, boot device, BIOS settings and the "
        "BMC log over the node's protocol (an `auto` node is probed again first; a Redfish "
        "BMC's certificate is recorded for acceptance; a new chassis intrusion is audited). No "
        "body; the node page, `/firmware/`, `/bios/` and `/bmc-log/` show the result."
    ),
    request=None,
    responses={
        202: OpenApiResponse(RefreshQueuedSerializer, description="Queued."),
        403: _NO_HARDWARE,
        409: error(
            "The node is reached through a site gateway, which does not read details yet.",
            "Not available through a site gateway yet: reading the BMC details (inventory, "
            "firmware, boot device, BIOS settings, log). node-17 is reached through the site "
            "gateway lyon-gw, and its BMC is never contacted from here.",
        ),
    },
)
@api_view(["POST"])
def node_refresh(request, pk):
    from apps.hardware.tasks import bmc_details_refresh_task

    node = access.node_for_user(request.user, pk, Action.VIEW_HARDWARE)
    refusal = reach.gateway_refusal(node, "details")
    if refusal:
        return Response({"detail": refusal}, status=status.HTTP_409_CONFLICT)
    transaction.on_commit(lambda: bmc_details_refresh_task.delay(node.pk))
    return Response({"node": node.pk, "status": "queued"}, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    summary="A node's firmware components",
    description=(
        "What the BMC reported at the last details read: every component with its version "
        "(Redfish: the `FirmwareInventory`, with `updateable`; IPMI: the BMC's own firmware)."
    ),
    responses={200: NodeFirmwareSerializer, 403: _NO_HARDWARE},
)
@api_view(["GET"])
def node_firmware(request, pk):
    node = access.node_for_user(request.user, pk, Action.VIEW_HARDWARE)
    facts = selectors.node_facts(node)
    stored = list(facts.firmware) if facts else []
    available = facts.features.get("firmware") if facts else None
    components = [
        {
            "id": str(item.get("id") or item.get("component") or ""),
            "name": str(item.get("component") or ""),
            "version": str(item.get("version") or ""),
            "updateable": item.get("updateable"),
            "read_at": parse_datetime(item["read_at"]) if item.get("read_at") else None,
        }
        for item in stored
        if isinstance(item, dict)
    ]
    return Response(
        {
            "node": node.pk,
            "protocol": node_protocol(node),
            "available": available,
            "components": components,
        }
    )


@extend_schema(
    summary="Rotate a node's BMC password",
    description=(
        "Queues a rotation of the node's BMC account password (engineers): a new random "
        "password is set on the BMC, verified by logging in with it, and only then stored; "
        "until then the current one stays stored and in use. No body; the outcome is the node's "
        "`bmc_rotation_state` (`pending`, `failed` with `bmc_rotation_error`, empty once done) "
        "and `bmc_password_rotated_at` (`/api/v1/nodes/{id}/`), the node page and the audit "
        "log. The password itself is never shown."
    ),
    request=None,
    responses={
        202: OpenApiResponse(RefreshQueuedSerializer, description="Queued."),
        400: error(
            "The node has no BMC address, user name or stored password to rotate.",
            "The node has no stored BMC password: set one before rotating it.",
        ),
        403: error(
            "Your role may not configure BMCs (planners, admins).",
            "Your role may not configure bmc.",
        ),
        409: error(
            "A rotation of this node is already in progress.",
            "A password rotation of node-17 is already in progress (since 10:42:05 UTC); wait "
            "for it to finish.",
        ),
    },
)
@api_view(["POST"])
def node_bmc_password_rotate(request, pk):
    node = access.node_for_user(request.user, pk, Action.CONFIGURE_BMC)
    try:
        rotation.bmc_password_rotate_request(actor=request.user, node=node, source="api")
    except rotation.RotationBusy as busy:
        return Response({"detail": str(busy)}, status=status.HTTP_409_CONFLICT)
    except rotation.RotationFailed as refused:
        return Response({"detail": str(refused)}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"node": node.pk, "status": "queued"}, status=status.HTTP_202_ACCEPTED)
