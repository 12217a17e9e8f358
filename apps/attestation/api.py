"""Attestation API: latest verdict + history, "attest now" (202), and the node's prediction."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.attestation import selectors, services
from apps.attestation.models import Attestation
from apps.attestation.reason_text import said as reason_said
from apps.attestation.serializers import (
    AttestationQueuedSerializer,
    NodeAttestationSerializer,
    PredictionSerializer,
)
from apps.core.rest import count_param, error, field_errors

HISTORY_DEFAULT, HISTORY_MAX = 50, 500
_MAY_NOT = error(
    "Your role does not see attestation (planners).", "Your role may not view attestation."
)


def _attestation(a: Attestation) -> dict:
    return {
        "id": a.pk,
        "at": a.at.isoformat(),
        "verdict": a.verdict,
        "reason_code": a.reason_code,
        "reason": a.reason,
        "reason_text": reason_said(a.reason),
        "nonce": a.nonce,
        "release": a.release_version,
        "pcrs": a.pcrs,
        "reset_count": a.reset_count,
        "restart_count": a.restart_count,
        "clock": a.clock,
        "rebooted": a.rebooted,
        "divergences": [
            {**d, "message_text": reason_said(d.get("message", ""))} for d in a.divergences or []
        ],
        "duration_ms": a.duration_ms,
    }


@extend_schema(
    methods=["GET"],
    summary="A node's attestation badge, latest verdict and history",
    parameters=[
        OpenApiParameter(
            "limit",
            int,
            default=HISTORY_DEFAULT,
            description=f"History entries, newest first; at most {HISTORY_MAX} (capped).",
        )
    ],
    responses={
        200: NodeAttestationSerializer,
        400: error("`limit` is not a positive integer.", "limit must be a positive integer"),
        403: _MAY_NOT,
    },
)
@extend_schema(
    methods=["POST"],
    summary="Attest a node now",
    description="Queues a quote from the node's agent; the verdict joins the history. No body.",
    request=None,
    responses={
        202: OpenApiResponse(AttestationQueuedSerializer, description="Queued."),
        400: field_errors("The node cannot be attested (`detail`: e.g. no agent endpoint)."),
        403: _MAY_NOT,
    },
)
@api_view(["GET", "POST"])
def node_attestation(request, pk):
    """GET: badge, latest attestation and history (newest first). POST: attest now (202)."""
    node = access.node_for_user(request.user, pk, Action.VIEW_ATTESTATION)
    if request.method == "POST":
        try:
            services.attest_request(actor=request.user, node=node)
        except services.AttestationError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response({"node": node.pk, "status": "queued"}, status=status.HTTP_202_ACCEPTED)
    limit = count_param(request, "limit", minimum=1, what="a positive integer")
    limit = HISTORY_DEFAULT if limit is None else min(limit, HISTORY_MAX)
    history = [_attestation(a) for a in selectors.node_history(node, limit)]
    return Response(
        {
            "node": node.pk,
            "badge": selectors.node_badge(node).value,
            "latest": history[0] if history else None,
            "history": history,
        }
    )


@extend_schema(
    summary="A node's predicted boot measurements",
    responses={
        200: PredictionSerializer,
        403: _MAY_NOT,
        404: error(
            "No such node, or no release or configuration to predict from.",
            "No firmware release recorded for lyo-0001-n01.",
        ),
    },
)
@api_view(["GET"])
def node_prediction(request, pk):
    """The predicted sha256 PCR0-7 and event sequence of the node (release + configuration)."""
    node = access.node_for_user(request.user, pk, Action.VIEW_ATTESTATION)
    try:
        prediction = services.node_prediction(node)
    except services.AttestationError as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
    return Response(
        {
            "node": node.pk,
            "release": prediction.release_version,
            "pcrs": {"sha256": {str(p): v for p, v in sorted(prediction.pcrs["sha256"].items())}},
            "events": [
                {
                    "pcr": e.pcr,
                    "type": e.type_name,
                    "label": e.label,
                    "sha256": e.digests.get("sha256", b"").hex(),
                }
                for e in prediction.events
            ],
        }
    )
