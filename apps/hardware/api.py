"""Power and boot-device API: 202 with the action's URL; the worker does the rest.

The power history (``/power-actions/``) is what the node and site pages show, for the roles that
see hardware, filterable and paginated like every list.
"""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import error, field_errors, parse_query
from apps.hardware import services
from apps.hardware.drivers.base import BmcError
from apps.hardware.models import PowerAction
from apps.hardware.serializers import (
    BootDeviceSerializer,
    BulkPowerSerializer,
    PowerActionQuerySerializer,
    PowerActionSerializer,
    PowerBatchAcceptedSerializer,
    PowerBatchSerializer,
    PowerRequestSerializer,
)
from apps.sites.models import Node

_LOCATION = OpenApiParameter(
    "Location",
    OpenApiTypes.URI,
    OpenApiParameter.HEADER,
    description="URL of what was accepted, to poll until it has finished.",
    response=[202],
)
_ACTION_EXAMPLE = {
    "id": 118,
    "url": "/api/v1/power-actions/118/",
    "node": 7,
    "node_name": "lyo-0001-n07",
    "kind": "off",
    "params": {},
    "status": "pending",
    "result": "",
    "error_cause": "",
    "error": "",
    "state_after": "",
    "attempts": 0,
    "requested_by": "engineer",
    "requested_at": "2026-01-10T11:00:00Z",
    "started_at": None,
    "finished_at": None,
    "batch": None,
}
_NOT_POWER = error(
    "Your role may not press power buttons (planners, admins).",
    "Your role may not power control.",
)
_NO_HARDWARE = error(
    "Your role never sees hardware (partners, planners).", "Your role may not view hardware."
)
_ACCEPTED = OpenApiResponse(
    PowerActionSerializer,
    description="Queued: poll the action's `url` until `status` is succeeded or failed.",
    examples=[OpenApiExample("queued", value=_ACTION_EXAMPLE)],
)
_NODE_RESPONSES = {
    202: _ACCEPTED,
    400: field_errors("The body is invalid, or the BMC refused the request (`detail`)."),
    403: _NOT_POWER,
    409: error(
        "An action is already in flight on this node.",
        "lyo-0001-n07 already has an action in flight (Power on, running).",
    ),
}


def _accepted(request, action: PowerAction) -> Response:
    body = PowerActionSerializer(action).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


def _request(request, node: Node, kind: str, params: dict) -> Response:
    try:
        action = services.power_request(actor=request.user, node=node, kind=kind, params=params)
    except services.PowerConflict as conflict:
        return Response({"detail": str(conflict)}, status=status.HTTP_409_CONFLICT)
    except BmcError as error:
        raise ValidationError({"detail": error.message}) from error
    return _accepted(request, action)


@extend_schema(
    summary="Power a node on, off, reset or cycle",
    request=PowerRequestSerializer,
    responses=_NODE_RESPONSES,
    parameters=[_LOCATION],
    examples=[OpenApiExample("hard off", value={"action": "off"}, request_only=True)],
)
@api_view(["POST"])
def node_power(request, pk):
    node = access.node_for_user(request.user, pk, Action.POWER_CONTROL)
    data = PowerRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    return _request(request, node, data.validated_data["action"], {})


@extend_schema(
    summary="Set a node's boot device",
    request=BootDeviceSerializer,
    responses=_NODE_RESPONSES,
    parameters=[_LOCATION],
    examples=[
        OpenApiExample(
            "network, next boot only",
            value={"device": "network", "persistent": False, "uefi": True},
            request_only=True,
        )
    ],
)
@api_view(["POST"])
def node_boot_device(request, pk):
    node = access.node_for_user(request.user, pk, Action.POWER_CONTROL)
    data = BootDeviceSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    return _request(request, node, PowerAction.Kind.BOOT_DEVICE, dict(data.validated_data))


@extend_schema_view(
    list=extend_schema(
        summary="Power history",
        description=(
            "Power and boot-device actions, newest first: what the node and site pages show. "
            "Engineers and admins; partners and planners never see hardware (403)."
        ),
        parameters=[PowerActionQuerySerializer],
        responses={
            200: PowerActionSerializer(many=True),
            400: error(
                "A filter, `limit` or `offset` is invalid.",
                'status: "done" is not a valid choice.',
            ),
            403: _NO_HARDWARE,
        },
    ),
    retrieve=extend_schema(
        summary="One power action",
        responses={200: PowerActionSerializer, 403: _NO_HARDWARE},
    ),
)
class PowerActionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PowerActionSerializer

    def check_permissions(self, request):
        super().check_permissions(request)
        if self.action == "list":
            access.require(request.user, Action.VIEW_HARDWARE)

    def get_queryset(self):
        actions = access.power_actions_visible_to(self.request.user)
        if self.action == "list":
            query = parse_query(PowerActionQuerySerializer, self.request)
            filters = {
                "node_id": query.get("node"),
                "node__site_id": query.get("site"),
                "status": query.get("status"),
                "kind": query.get("kind"),
                "requested_by__username": query.get("requested_by"),
                "requested_at__gte": query.get("since"),
                "requested_at__lt": query.get("until"),
            }
            actions = actions.filter(**{k: v for k, v in filters.items() if v is not None})
        return actions.select_related("node", "requested_by").order_by("-requested_at", "-id")

    def get_object(self):
        return access.power_action_for_user(self.request.user, self.kwargs["pk"])


@extend_schema(
    summary="Power several nodes of a site, rolling",
    description=(
        "One batch, `concurrency` nodes at a time. Nodes with an action already in flight are "
        "left out and named in `skipped`."
    ),
    request=BulkPowerSerializer,
    responses={
        202: OpenApiResponse(PowerBatchAcceptedSerializer, description="Queued."),
        400: field_errors("The body is invalid, or names nodes of another site (`nodes`)."),
        403: error(
            "Your role may not press power buttons (partners, planners, admins).",
            "Your role may not power control.",
        ),
    },
    parameters=[_LOCATION],
    examples=[
        OpenApiExample(
            "two nodes off, one at a time",
            value={"action": "off", "nodes": [7, 8], "concurrency": 1},
            request_only=True,
        )
    ],
)
@api_view(["POST"])
def site_power(request, pk):
    site = access.site_for_user(request.user, pk, Action.POWER_CONTROL)
    data = BulkPowerSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    nodes = site.nodes.order_by("name")
    wanted = data.validated_data.get("nodes")
    if wanted is not None:
        nodes = nodes.filter(pk__in=wanted)
        unknown = set(wanted) - set(nodes.values_list("pk", flat=True))
        if unknown:
            raise ValidationError({"nodes": [f"Not nodes of this site: {sorted(unknown)}"]})
    batch, skipped = services.bulk_power_request(
        actor=request.user,
        site=site,
        kind=data.validated_data["action"],
        nodes=list(nodes),
        concurrency=data.validated_data["concurrency"],
    )
    body = _batch_body(batch) | {"skipped": skipped}
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


@extend_schema(
    summary="One power batch and its actions",
    responses={200: PowerBatchSerializer, 403: _NO_HARDWARE},
)
@api_view(["GET"])
def power_batch_detail(request, pk):
    batch = access.power_batch_for_user(request.user, pk)
    return Response(_batch_body(batch))


def _batch_body(batch) -> dict:
    actions = list(batch.actions.select_related("node", "requested_by").order_by("id"))
    done = sum(1 for a in actions if not a.is_active)
    return {
        "id": batch.pk,
        "url": reverse("api:power-batch-detail", args=[batch.pk]),
        "site": batch.site_id,
        "action": batch.action,
        "concurrency": batch.concurrency,
        "total": len(actions),
        "done": done,
        "failed": sum(1 for a in actions if a.status == PowerAction.Status.FAILED),
        "actions": PowerActionSerializer(actions, many=True).data,
    }
