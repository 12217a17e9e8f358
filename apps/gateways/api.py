"""Site gateways in the API: list (engineers, admins), enrol and revoke (engineers).

The enrolment answer carries the gateway's private key file and config: shown this once.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import access
from apps.accounts.policy import Action
from apps.core.rest import error, field_errors
from apps.gateways import services
from apps.gateways.models import Gateway


class GatewaySerializer(serializers.ModelSerializer):
    """A gateway as listed: public facts only (its keys' public halves are not needed here)."""

    sites = serializers.SerializerMethodField()

    class Meta:
        model = Gateway
        fields = [
            "id",
            "name",
            "status",
            "sites",
            "enrolled_at",
            "revoked_at",
            "last_contact_at",
            "version",
        ]
        read_only_fields = fields

    def get_sites(self, obj: Gateway) -> list[str]:
        return sorted(link.site.code for link in obj.site_links.all())


class EnrolSerializer(serializers.Serializer):
    name = serializers.RegexField(r"^[a-z0-9][a-z0-9-]{0,47}$", help_text="Lower-case, dashes.")
    sites = serializers.ListField(
        child=serializers.CharField(max_length=64),
        min_length=1,
        max_length=100,
        help_text="Codes of the sites it serves.",
    )


class EnrolledSerializer(GatewaySerializer):
    private_keys = serializers.SerializerMethodField(help_text="The key file, shown this once.")
    config = serializers.SerializerMethodField(help_text="The gateway's TOML config file.")

    class Meta(GatewaySerializer.Meta):
        fields = [*GatewaySerializer.Meta.fields, "private_keys", "config"]
        read_only_fields = fields

    def get_private_keys(self, obj) -> str:
        return self.context["enrolment"].private_keys

    def get_config(self, obj) -> str:
        return self.context["enrolment"].config


def _listed():
    return Gateway.objects.prefetch_related("site_links__site")


@extend_schema(
    methods=["GET"],
    summary="List site gateways",
    responses={200: GatewaySerializer(many=True), 403: error("Not for this role.")},
)
@extend_schema(
    methods=["POST"],
    summary="Enrol a site gateway",
    request=EnrolSerializer,
    responses={
        201: EnrolledSerializer,
        400: field_errors(),
        403: error("Only engineers enrol gateways."),
        409: error("Refused.", "Site lyon-1 is already served by gateway lyon-gw."),
        502: error("The broker refused the gateway's user."),
    },
)
@api_view(["GET", "POST"])
def gateway_list(request: Request) -> Response:
    if request.method == "GET":
        gateways = access.gateways_for_user(request.user).prefetch_related("site_links__site")
        return Response(GatewaySerializer(gateways, many=True).data)
    access.gateways_for_user(request.user, Action.MANAGE_GATEWAYS)
    body = EnrolSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    codes = body.validated_data["sites"]
    sites = list(
        access.sites_visible_to(request.user, Action.MANAGE_GATEWAYS).filter(code__in=codes)
    )
    unknown = sorted(set(codes) - {s.code for s in sites})
    if unknown:
        raise ValidationError({"sites": [f"No site with code {', '.join(unknown)}."]})
    try:
        enrolment = services.gateway_enrol(
            actor=request.user, name=body.validated_data["name"], sites=sites
        )
    except services.GatewayError as refused:
        code = 502 if "broker" in str(refused) else status.HTTP_409_CONFLICT
        return Response({"detail": str(refused)}, status=code)
    gateway = _listed().get(pk=enrolment.gateway.pk)
    response = Response(
        EnrolledSerializer(gateway, context={"enrolment": enrolment}).data, status=201
    )
    response["Cache-Control"] = "no-store"
    return response


@extend_schema(
    summary="Revoke a site gateway",
    request=None,
    responses={
        200: GatewaySerializer,
        403: error("Only engineers revoke gateways."),
        404: error("No such gateway."),
    },
)
@api_view(["POST"])
def gateway_revoke(request: Request, pk: int) -> Response:
    gateway = access.gateway_for_user(request.user, pk, Action.MANAGE_GATEWAYS)
    services.gateway_revoke(actor=request.user, gateway=gateway)
    return Response(GatewaySerializer(_listed().get(pk=gateway.pk)).data)
