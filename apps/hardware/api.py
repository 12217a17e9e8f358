"""Power and boot-device API: 202 with the action's URL; the worker does the rest."""

from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.hardware import services
from apps.hardware.drivers.base import BOOT_DEVICES, BmcError
from apps.hardware.models import PowerAction
from apps.sites.models import Node

POWER_CHOICES = [k for k in PowerAction.Kind.values if k != PowerAction.Kind.BOOT_DEVICE]


class PowerRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=POWER_CHOICES)


class BootDeviceSerializer(serializers.Serializer):
    device = serializers.ChoiceField(choices=list(BOOT_DEVICES))
    persistent = serializers.BooleanField(default=False)
    uefi = serializers.BooleanField(default=True)


class BulkPowerSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=POWER_CHOICES)
    nodes = serializers.ListField(
        child=serializers.IntegerField(), required=False, allow_empty=False
    )
    concurrency = serializers.IntegerField(min_value=1, max_value=16, default=2)


class PowerActionSerializer(serializers.ModelSerializer):
    node_name = serializers.CharField(source="node.name", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", default=None)
    url = serializers.SerializerMethodField()

    class Meta:
        model = PowerAction
        fields = [
            "id",
            "url",
            "node",
            "node_name",
            "kind",
            "params",
            "status",
            "result",
            "error_cause",
            "error",
            "state_after",
            "attempts",
            "requested_by",
            "requested_at",
            "started_at",
            "finished_at",
            "batch",
        ]

    def get_url(self, action) -> str:
        return reverse("api:power-action-detail", args=[action.pk])


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


@api_view(["POST"])
def node_power(request, pk):
    node = access.node_for_user(request.user, pk, Action.POWER_CONTROL)
    data = PowerRequestSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    return _request(request, node, data.validated_data["action"], {})


@api_view(["POST"])
def node_boot_device(request, pk):
    node = access.node_for_user(request.user, pk, Action.POWER_CONTROL)
    data = BootDeviceSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    return _request(request, node, PowerAction.Kind.BOOT_DEVICE, dict(data.validated_data))


@api_view(["GET"])
def power_action_detail(request, pk):
    action = access.power_action_for_user(request.user, pk)
    return Response(PowerActionSerializer(action).data)


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
