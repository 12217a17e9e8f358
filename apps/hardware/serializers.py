"""What the power API reads and answers: requests, actions, batches, and the history's filters."""

from django.urls import reverse
from rest_framework import serializers

from apps.core.rest import MAX_ID, InstantField, id_param
from apps.hardware.drivers.base import BOOT_DEVICES
from apps.hardware.models import PowerAction

POWER_CHOICES = [k for k in PowerAction.Kind.values if k != PowerAction.Kind.BOOT_DEVICE]


class PowerRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=POWER_CHOICES,
        help_text="on, off (hard), soft (ACPI shutdown), reset or cycle.",
    )


class BootDeviceSerializer(serializers.Serializer):
    device = serializers.ChoiceField(choices=list(BOOT_DEVICES))
    persistent = serializers.BooleanField(
        default=False, help_text="Keep the device for every boot, not only the next one."
    )
    uefi = serializers.BooleanField(default=True)


class BulkPowerSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=POWER_CHOICES)
    nodes = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_empty=False,
        max_length=1000,
        help_text="Ids of nodes of this site; every node of the site when left out.",
    )
    concurrency = serializers.IntegerField(
        min_value=1, max_value=16, default=2, help_text="Nodes acted on at the same time."
    )


class PowerActionSerializer(serializers.ModelSerializer):
    node_name = serializers.CharField(source="node.name", read_only=True)
    requested_by = serializers.CharField(
        source="requested_by.username",
        default=None,
        allow_null=True,
        help_text="Username of the requester; null once that user is deleted.",
    )
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


class PowerBatchSerializer(serializers.Serializer):
    """A rolling power action over several nodes of a site, and how far it got."""

    id = serializers.IntegerField()
    url = serializers.CharField(help_text="This batch's URL, to poll.")
    site = serializers.IntegerField()
    action = serializers.ChoiceField(choices=POWER_CHOICES)
    concurrency = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Actions in the batch.")
    done = serializers.IntegerField(help_text="Actions finished (succeeded or failed).")
    failed = serializers.IntegerField()
    actions = PowerActionSerializer(many=True)


class PowerBatchAcceptedSerializer(PowerBatchSerializer):
    skipped = serializers.ListField(
        child=serializers.CharField(),
        help_text="Nodes left out because an action is already in flight on them, and why.",
    )


class PowerActionQuerySerializer(serializers.Serializer):
    """Filters of the power history; ``since``/``until`` bound ``requested_at``."""

    node = id_param("Only this node's actions.")
    site = id_param("Only actions on this site's nodes.")
    status = serializers.ChoiceField(choices=PowerAction.Status.choices, required=False)
    kind = serializers.ChoiceField(choices=PowerAction.Kind.choices, required=False)
    requested_by = serializers.CharField(
        required=False, max_length=150, help_text="Username of the requester."
    )
    since = InstantField(required=False, help_text="Requested at or after (ISO 8601 with offset).")
    until = InstantField(required=False, help_text="Requested before (ISO 8601 with offset).")

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["until"] <= attrs["since"]:
            raise serializers.ValidationError({"until": "must be after since"})
        return attrs


class CertificateAcceptSerializer(serializers.Serializer):
    fingerprint = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text=(
            "SHA-256 of the certificate you were shown (hex, colons allowed). When given, a "
            "BMC now presenting another certificate is refused (409) instead of accepted."
        ),
    )


class BmcCertificateSerializer(serializers.Serializer):
    node = serializers.IntegerField()
    state = serializers.ChoiceField(
        choices=["accepted", "unaccepted", "changed", "unseen"],
        help_text="unaccepted: first contact; changed: the BMC presents another certificate "
        "than the accepted one, and Heatsite refuses to talk to it.",
    )
    accepted = serializers.CharField(help_text="The pinned fingerprint, or empty.")
    fingerprint = serializers.CharField(help_text="The certificate last presented, or empty.")
    subject = serializers.CharField()
    not_after = serializers.DateTimeField(allow_null=True)
    seen_at = serializers.DateTimeField(allow_null=True)


class RefreshQueuedSerializer(serializers.Serializer):
    node = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["queued"])


class FirmwareComponentSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The BMC's id of the component (Redfish), or its name.")
    name = serializers.CharField()
    version = serializers.CharField()
    updateable = serializers.BooleanField(
        allow_null=True, help_text="null when the BMC does not say (always for IPMI)."
    )
    read_at = serializers.DateTimeField(
        allow_null=True, help_text="When Heatsite read it from the BMC; null if unknown."
    )


class NodeFirmwareSerializer(serializers.Serializer):
    node = serializers.IntegerField()
    protocol = serializers.ChoiceField(
        choices=["ipmi", "redfish"], help_text="The protocol the node is read over now."
    )
    available = serializers.BooleanField(
        allow_null=True,
        help_text="false: the BMC refused to report firmware; null: never read yet.",
    )
    components = FirmwareComponentSerializer(many=True)
