"""Firmware compliance in the API, and setting a SKU's desired bundle.

``GET /api/v1/firmware/compliance/``: every node against its SKU's desired bundle, filtered
like the page, paginated like every list. ``POST /api/v1/firmware/bundles/{id}/desired/``: makes
the bundle the desired one of its SKU (audited). Engineers and admins; planners 403; partners
404 on compliance (like campaigns) and 403 on the bundle (like every bundle endpoint).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import BadQuery, error
from apps.firmware.compliance import (
    STATUSES,
    ComplianceQuery,
    ComplianceQueryError,
    compliance_compute,
)
from apps.firmware.desired import desired_bundle_set
from apps.firmware.models import FirmwareBundle

_STATUS_HELP = ", ".join(value for value, _ in STATUSES)


class ComplianceQuerySerializer(serializers.Serializer):
    site = serializers.CharField(required=False, help_text="A site's id or code.")
    sku = serializers.CharField(required=False, help_text="Only nodes of this SKU.")
    status = serializers.ChoiceField(
        choices=STATUSES,
        required=False,
        help_text=f"{_STATUS_HELP}; with `component`, that component's status.",
    )
    component = serializers.CharField(
        required=False, help_text="Only nodes running this component (BMC, BIOS, ...)."
    )
    version = serializers.CharField(
        required=False,
        help_text="Only nodes running this version (of `component` when given, else of any).",
    )


class ComponentStateSerializer(serializers.Serializer):
    component = serializers.CharField()
    current = serializers.CharField(allow_null=True, help_text="null: the BMC does not report it.")
    desired = serializers.CharField()
    status = serializers.CharField(help_text=_STATUS_HELP)


class NodeComplianceSerializer(serializers.Serializer):
    node = serializers.CharField()
    node_id = serializers.IntegerField()
    site = serializers.CharField()
    sku = serializers.CharField(allow_null=True)
    desired_bundle = serializers.IntegerField(source="bundle_id", allow_null=True)
    desired_version = serializers.CharField(source="bundle_version", allow_null=True)
    status = serializers.CharField(help_text=_STATUS_HELP)
    mixed = serializers.BooleanField(
        help_text="Behind on some components and ahead on others (status is `behind`)."
    )
    reason = serializers.CharField(help_text="Why unknown, or which components differ.")
    components = ComponentStateSerializer(many=True)
    read_at = serializers.DateTimeField(
        allow_null=True, help_text="The oldest BMC read of the node's firmware (UTC)."
    )


class DesiredBundleSerializer(serializers.Serializer):
    sku = serializers.CharField(source="profile.sku")
    bundle = serializers.IntegerField(source="bundle_id")
    version = serializers.CharField(source="bundle.version")
    set_by = serializers.CharField(source="set_by.username", default=None)
    set_at = serializers.DateTimeField()


class ComplianceList(generics.ListAPIView):
    serializer_class = NodeComplianceSerializer

    def get_queryset(self):
        nodes = access.compliance_nodes_for_user(self.request.user)
        checked = ComplianceQuerySerializer(
            data={k: v for k, v in self.request.query_params.items() if v != ""}
        )
        if not checked.is_valid():
            raise BadQuery(
                "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in checked.errors.items())
            )
        try:
            query = ComplianceQuery.from_params(checked.validated_data)
        except ComplianceQueryError as exc:
            raise BadQuery(str(exc)) from None
        return compliance_compute(nodes=nodes, query=query).rows

    @extend_schema(
        summary="Firmware compliance",
        description=(
            "Every node's component versions against the desired bundle of its SKU, in site "
            "then node order: `up_to_date`, `behind` (also when some components are ahead: "
            "`mixed`), `ahead`, or `unknown` with the reason (no SKU, no desired bundle, no "
            "firmware read yet, a component not reported, versions not comparable). "
            "Engineers and admins; planners 403; partners 404."
        ),
        parameters=[ComplianceQuerySerializer],
        responses={
            200: NodeComplianceSerializer(many=True),
            400: error("A filter, `limit` or `offset` is invalid.", "status: ..."),
            403: error("Your role may not manage firmware (planners).", "Your role may not..."),
            404: error("Partners never see the compliance view.", "No such page."),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


firmware_compliance = ComplianceList.as_view()


@extend_schema(
    summary="Make a bundle its SKU's desired bundle",
    description=(
        "The bundle becomes the one every node of its SKU should run, replacing the previous "
        "desired bundle of that SKU; audited. No body."
    ),
    request=None,
    responses={
        200: DesiredBundleSerializer,
        403: error("Your role may not manage firmware (partners, planners).", "Your role..."),
        404: error("No such bundle.", "No FirmwareBundle matches the given query."),
    },
)
@api_view(["POST"])
def firmware_bundle_desired(request, pk):
    access.require(request.user, Action.MANAGE_FIRMWARE)
    bundle = get_object_or_404(FirmwareBundle, pk=pk)
    desired = desired_bundle_set(actor=request.user, bundle_id=bundle.pk)
    return Response(DesiredBundleSerializer(desired).data)
