"""Firmware images and updates in the API."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from apps.core.rest import id_param
from apps.firmware.models import FirmwareImage, FirmwareUpdate


class FirmwareImageSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.CharField(
        source="uploaded_by.username",
        default=None,
        allow_null=True,
        help_text="Username of the uploader; null once that user is deleted.",
    )

    class Meta:
        model = FirmwareImage
        fields = [
            "id",
            "component",
            "version",
            "sku",
            "sha256",
            "size",
            "original_name",
            "uploaded_by",
            "uploaded_at",
        ]


class FirmwareImageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The firmware image (multipart/form-data).")


class FirmwareUpdateRequestSerializer(serializers.Serializer):
    image = serializers.PrimaryKeyRelatedField(
        queryset=FirmwareImage.objects.all(), help_text="Id of an uploaded image."
    )
    method = serializers.ChoiceField(
        choices=FirmwareUpdate.Method.choices,
        help_text="`push`: Heatsite uploads the image to the BMC; `simple`: the BMC fetches it "
        "from a one-time signed URL that Heatsite serves.",
    )
    apply_time = serializers.ChoiceField(
        choices=FirmwareUpdate.ApplyTime.choices,
        default=FirmwareUpdate.ApplyTime.ON_RESET,
        help_text="`OnReset` (Heatsite resets the node through a power action) or `Immediate`.",
    )


class FirmwareUpdateSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    node_name = serializers.CharField(source="node.name", read_only=True)
    image = FirmwareImageSerializer(read_only=True)
    requested_by = serializers.CharField(
        source="requested_by.username",
        default=None,
        allow_null=True,
        help_text="Username of the requester; null once that user is deleted.",
    )

    class Meta:
        model = FirmwareUpdate
        fields = [
            "id",
            "url",
            "node",
            "node_name",
            "image",
            "method",
            "apply_time",
            "state",
            "percent",
            "task_state",
            "task_status",
            "task_message",
            "reason",
            "cause",
            "previous_version",
            "target_version",
            "version_read_back",
            "power_action",
            "attempts",
            "requested_by",
            "requested_at",
            "started_at",
            "last_polled_at",
            "applied_at",
            "finished_at",
        ]

    def get_url(self, update) -> str:
        return reverse("api:firmware-update-detail", args=[update.pk])


class FirmwareUpdateQuerySerializer(serializers.Serializer):
    node = id_param("Only this node's updates.")
    state = serializers.ChoiceField(choices=FirmwareUpdate.State.choices, required=False)
    active = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Only updates in flight (true)."
    )
