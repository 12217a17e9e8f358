"""A node's BIOS settings and BMC log in the API.

Reading: engineers and admins (planners 403, partners 404), what the last details read stored
(``POST /refresh/`` reads again). Changing the BIOS: engineers only (``CONFIGURE_BMC``); the
change is checked against the stored attribute registry (400 with a reason per attribute),
then staged on the BMC for the next reset (200 with the pending settings); a BMC that refuses
is a 409 in its own words, one that does not answer a 502.
"""

from __future__ import annotations

import datetime

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.pagination import Pagination
from apps.core.rest import error, field_errors, parse_query
from apps.hardware import bios, selectors
from apps.hardware.protocols import node_protocol

_NO_HARDWARE = error(
    "Your role never sees hardware (planners).", "Your role may not view hardware."
)


@extend_schema_field(
    {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]},
)
class BiosValueField(serializers.Field):
    """A BIOS attribute's value: text, number, true/false, or null."""

    def to_representation(self, value):
        return value

    def to_internal_value(self, data):
        return data


class BiosAttributeSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The attribute's name on the BMC (what PATCH takes).")
    display_name = serializers.CharField(
        help_text="The attribute registry's name; empty when the BMC has no registry entry."
    )
    value = BiosValueField(allow_null=True, help_text="Current value (passwords: set or not).")
    pending_value = BiosValueField(
        allow_null=True, help_text="Value applied at the next reset; null when none is pending."
    )
    pending = serializers.BooleanField(help_text="A change of this attribute is pending.")
    type = serializers.CharField(
        help_text="Enumeration, String, Integer, Boolean, Password; empty when unknown."
    )
    allowed_values = serializers.ListField(
        child=serializers.CharField(), help_text="An enumeration's values (else empty)."
    )
    read_only = serializers.BooleanField()
    lower_bound = serializers.IntegerField(allow_null=True)
    upper_bound = serializers.IntegerField(allow_null=True)


class NodeBiosSerializer(serializers.Serializer):
    node = serializers.IntegerField()
    protocol = serializers.CharField(help_text="`ipmi` or `redfish`: what the node is read over.")
    available = serializers.BooleanField(
        allow_null=True,
        help_text="false: the BMC has no BIOS settings (IPMI); null: never read yet.",
    )
    read_at = serializers.DateTimeField(allow_null=True)
    registry = serializers.CharField(help_text="The BMC's AttributeRegistry id (may be empty).")
    apply_note = serializers.CharField(help_text="When pending changes take effect.")
    attributes = BiosAttributeSerializer(many=True)


class BiosChangeSerializer(serializers.Serializer):
    attributes = serializers.DictField(
        child=BiosValueField(),
        allow_empty=False,
        help_text="Attribute name → new value (as GET shows: text, number or true/false).",
    )

    def to_internal_value(self, data):
        if not isinstance(data, dict) or not isinstance(data.get("attributes"), dict):
            raise ValidationError({"attributes": ["An object of attribute name → value."]})
        return {"attributes": data["attributes"]}


class BmcLogEntrySerializer(serializers.Serializer):
    id = serializers.CharField()
    created = serializers.DateTimeField(
        allow_null=True, default_timezone=datetime.UTC, help_text="UTC; null when unknown."
    )
    severity = serializers.ChoiceField(choices=["ok", "warning", "critical", "unknown"])
    message = serializers.CharField(allow_blank=True)
    sensor_type = serializers.CharField(allow_blank=True)
    intrusion = serializers.BooleanField(help_text="A chassis-intrusion event.")
    log = serializers.CharField(allow_blank=True, help_text="The BMC log it comes from.")


class BmcLogPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    read_at = serializers.DateTimeField(allow_null=True, help_text="When the log was read.")
    available = serializers.BooleanField(
        allow_null=True, help_text="false: the BMC offers no log here; null: never read yet."
    )
    results = BmcLogEntrySerializer(many=True)


class BmcLogQuerySerializer(serializers.Serializer):
    intrusion = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Only intrusions (true) or others."
    )


def _bios_body(node, facts) -> dict:
    stored = (facts.bios if facts else None) or {}
    return {
        "node": node.pk,
        "protocol": node_protocol(node),
        "available": facts.features.get("bios") if facts else None,
        "read_at": stored.get("read_at"),
        "registry": stored.get("registry", ""),
        "apply_note": bios.APPLY_NOTE,
        "attributes": [
            {
                "name": row["name"],
                "display_name": row.get("display_name", ""),
                "value": row.get("value"),
                "pending_value": row["pending_value"],
                "pending": row["has_pending"],
                "type": row.get("type", ""),
                "allowed_values": list(row.get("allowed") or []),
                "read_only": bool(row.get("read_only")),
                "lower_bound": row.get("lower"),
                "upper_bound": row.get("upper"),
            }
            for row in bios.bios_rows(facts)
        ],
    }


@extend_schema(
    methods=["GET"],
    summary="A node's BIOS settings",
    description=(
        "The BIOS attributes the last details read stored, with the attribute registry's "
        "names, types, allowed values and bounds, and the values pending for the next reset."
    ),
    responses={200: NodeBiosSerializer, 403: _NO_HARDWARE},
)
@extend_schema(
    methods=["PATCH"],
    summary="Stage BIOS changes on a node",
    description=(
        "Engineers only. Each attribute is checked against the stored registry; then the "
        "change is staged on the BMC and applied by the BIOS at the node's next reset (nothing "
        "restarts now). Answers the settings afterwards. Audited."
    ),
    request=BiosChangeSerializer,
    responses={
        200: OpenApiResponse(NodeBiosSerializer, description="Staged: see `pending`."),
        400: field_errors("Unknown attribute, read-only, or a value it does not take."),
        403: error(
            "Your role may not change BIOS settings (all but engineers).",
            "Your role may not configure bmc.",
        ),
        409: error(
            "The BMC refused the change (its own words), or the settings were never read.",
            "The request is not valid. (HTTP 400) The BMC says: The property "
            "'Attributes/SriovGlobalEnable' could not be written because its value would "
            "conflict with the value of the 'Attributes/BootMode' property.",
        ),
        502: error(
            "The BMC did not answer, or not in time; nothing is known to be staged.",
            "The BMC does not answer on the network.",
        ),
    },
    examples=[
        OpenApiExample(
            "turbo off, fans at 35 %",
            value={"attributes": {"ProcTurboMode": "Disabled", "FanMinimumPercent": 35}},
            request_only=True,
        )
    ],
)
@api_view(["GET", "PATCH"])
def node_bios(request, pk):
    if request.method == "GET":
        node = access.node_for_user(request.user, pk, Action.VIEW_HARDWARE)
        return Response(_bios_body(node, selectors.node_facts(node)))
    node = access.node_for_user(request.user, pk, Action.CONFIGURE_BMC)
    data = BiosChangeSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        facts = bios.bios_change_request(
            actor=request.user, node=node, changes=data.validated_data["attributes"]
        )
    except bios.BiosChangeInvalid as invalid:
        if invalid.unread:
            return Response({"detail": str(invalid.errors["attributes"])}, status.HTTP_409_CONFLICT)
        raise ValidationError({name: [reason] for name, reason in invalid.errors.items()}) from None
    except bios.BiosChangeRefused as refused:
        code = status.HTTP_409_CONFLICT if refused.refused else status.HTTP_502_BAD_GATEWAY
        return Response({"detail": refused.message}, status=code)
    return Response(_bios_body(node, facts))


@extend_schema(
    summary="A node's BMC log",
    description=(
        "The newest entries of the BMC's logs (SEL, event log) as the last details read stored, "
        "newest first; chassis intrusions marked. `?intrusion=true` lists only those."
    ),
    parameters=[
        BmcLogQuerySerializer,
        OpenApiParameter("limit", OpenApiTypes.INT, description="Results per page (≤ 500)."),
        OpenApiParameter("offset", OpenApiTypes.INT, description="Index of the first result."),
    ],
    responses={
        200: BmcLogPageSerializer,
        400: error("A query parameter is not valid.", "intrusion: Must be a valid boolean."),
        403: _NO_HARDWARE,
    },
)
@api_view(["GET"])
def node_bmc_log(request, pk):
    node = access.node_for_user(request.user, pk, Action.VIEW_HARDWARE)
    query = parse_query(BmcLogQuerySerializer, request)
    facts = selectors.node_facts(node)
    entries = selectors.bmc_log_rows(facts, intrusion=query.get("intrusion"))
    paginator = Pagination()
    page = paginator.paginate_queryset(entries, request)
    stored = (facts.bmc_log if facts else None) or {}
    return Response(
        {
            "count": paginator.count,
            "next": paginator.get_next_link(),
            "previous": paginator.get_previous_link(),
            "read_at": stored.get("read_at"),
            "available": facts.features.get("bmc_log") if facts else None,
            "results": BmcLogEntrySerializer(page, many=True).data,
        }
    )
