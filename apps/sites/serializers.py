from rest_framework import serializers

from apps.accounts.policy import PARTNER_SITE_FIELDS
from apps.core.rest import id_param
from apps.sites.models import HeatMeter, Node, Organisation, Site


class SiteSerializer(serializers.ModelSerializer):
    partner = serializers.PrimaryKeyRelatedField(
        queryset=Organisation.objects.filter(kind=Organisation.Kind.PARTNER)
    )
    partner_name = serializers.CharField(source="partner.name", read_only=True)

    class Meta:
        model = Site
        fields = [
            "id",
            "code",
            "name",
            "address",
            "city",
            "region",
            "latitude",
            "longitude",
            "partner",
            "partner_name",
            "heat_network",
            "contract_min_supply_c",
            "nominal_capacity_kw",
            "co2_factor_kg_per_mwh",
            "status",
            "timezone",
        ]


class PartnerSiteSerializer(serializers.ModelSerializer):
    """What a heat-network partner may see of a site: a whitelist (see policy)."""

    closed_schema = True  # the schema says no other field can appear

    class Meta:
        model = Site
        fields = [f for f in SiteSerializer.Meta.fields if f in PARTNER_SITE_FIELDS]
        read_only_fields = fields


class NodeSerializer(serializers.ModelSerializer):
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())
    bmc_password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=128,
        style={"input_type": "password"},
        help_text="Write-only. Stored encrypted; never returned.",
    )
    bmc_password_set = serializers.SerializerMethodField()
    bmc_certificate_state = serializers.CharField(
        source="bmc_cert_state",
        read_only=True,
        help_text="Redfish TLS: accepted, unaccepted (accept it: "
        "/api/v1/nodes/{id}/bmc-certificate/accept/), changed (refused), or empty.",
    )

    class Meta:
        model = Node
        fields = [
            "id",
            "site",
            "name",
            "rack_position",
            "model",
            "serial",
            "status",
            "nominal_power_w",
            "bmc_protocol",
            "bmc_host",
            "bmc_port",
            "redfish_port",
            "bmc_username",
            "bmc_password",
            "bmc_password_set",
            "bmc_protocol_detected",
            "bmc_tls_fingerprint",
            "bmc_certificate_state",
            "bmc_rotation_state",
            "bmc_rotation_error",
            "bmc_password_rotated_at",
            "power_state",
            "reachable",
            "last_seen",
            "power_w",
        ]
        read_only_fields = [
            "power_state",
            "reachable",
            "last_seen",
            "power_w",
            "bmc_protocol_detected",
            "bmc_tls_fingerprint",
            "bmc_rotation_state",
            "bmc_rotation_error",
            "bmc_password_rotated_at",
        ]

    def get_bmc_password_set(self, node: Node) -> bool:
        return bool(node.bmc_password_encrypted)


class MeterSerializer(serializers.ModelSerializer):
    site = serializers.PrimaryKeyRelatedField(queryset=Site.objects.all())

    class Meta:
        model = HeatMeter
        fields = [
            "id",
            "site",
            "serial",
            "model",
            "protocol",
            "host",
            "port",
            "unit_id",
            "installed_at",
            "removed_at",
        ]


# -- query parameters of the list endpoints ------------------------------------------------


class SiteQuerySerializer(serializers.Serializer):
    search = serializers.CharField(
        required=False, max_length=200, help_text="Part of the code, name, city or heat network."
    )
    status = serializers.ChoiceField(choices=Site.Status.choices, required=False)
    partner = id_param("Only this partner organisation's sites.")


class NodeQuerySerializer(serializers.Serializer):
    site = id_param("Only this site's nodes.")
    power_state = serializers.ChoiceField(choices=Node.PowerState.choices, required=False)
    search = serializers.CharField(required=False, max_length=100, help_text="Part of the name.")


class MeterQuerySerializer(serializers.Serializer):
    site = id_param("Only this site's meters.")
