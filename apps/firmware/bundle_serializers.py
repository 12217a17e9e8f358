"""Firmware bundles and their per-node predictions in the API."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.firmware.models import BundleComponent, BundlePrediction, FirmwareBundle

_PCRS = {
    "type": "object",
    "nullable": True,
    "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "example": {"0": "9f2c…", "7": "41ab…"},
}


class BundleUploadSerializer(serializers.Serializer):
    manifest = serializers.FileField(
        help_text="The bundle manifest (JSON, docs/firmware-bundles.md)."
    )
    signature = serializers.FileField(
        required=False,
        help_text="Detached signature of the canonical manifest by a trusted release key. "
        "Without it the bundle is refused as unsigned.",
    )
    images = serializers.ListField(
        child=serializers.FileField(),
        allow_empty=False,
        help_text="The component images, one part each, named as the manifest's `file`.",
    )


class BundleComponentSerializer(serializers.ModelSerializer):
    file = serializers.CharField(source="file_name")
    sha256 = serializers.CharField(source="image.sha256")
    size = serializers.IntegerField(source="image.size")

    class Meta:
        model = BundleComponent
        fields = ["position", "component", "version", "file", "sha256", "size", "image"]


class BundleMeasurementsSerializer(serializers.Serializer):
    source = serializers.ChoiceField(
        source="measurement_source", choices=FirmwareBundle.Source.choices
    )
    release = serializers.CharField(
        source="release_version", help_text="Firmware release whose references are used."
    )
    release_recorded = serializers.SerializerMethodField(
        help_text="Whether that release's reference measurements are recorded in Heatsite."
    )
    pcrs = serializers.JSONField(source="golden_pcrs", help_text="Golden PCR values, if given.")

    def get_release_recorded(self, bundle) -> bool:
        return bundle.release_id is not None


class BundleSignatureSerializer(serializers.Serializer):
    alg = serializers.CharField(source="signature_alg")
    key_id = serializers.CharField(source="signature_key_id")
    key_sha256 = serializers.CharField(
        source="signature_key_sha256", help_text="SHA-256 of the public key (DER)."
    )


class FirmwareBundleSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    predictions_url = serializers.SerializerMethodField()
    sku = serializers.CharField(source="profile.sku")
    components = BundleComponentSerializer(many=True, read_only=True)
    measurements = BundleMeasurementsSerializer(source="*", read_only=True)
    signature = BundleSignatureSerializer(source="*", read_only=True)
    predicted = serializers.SerializerMethodField(help_text="Nodes with predicted PCRs.")
    impossible = serializers.SerializerMethodField(help_text="Nodes that cannot be predicted.")
    uploaded_by = serializers.CharField(
        source="uploaded_by.username",
        default=None,
        allow_null=True,
        help_text="Username of the uploader; null from the command line or once deleted.",
    )

    class Meta:
        model = FirmwareBundle
        fields = [
            "id",
            "url",
            "predictions_url",
            "sku",
            "version",
            "name",
            "components",
            "requires",
            "measurements",
            "signature",
            "manifest_sha256",
            "predicted",
            "impossible",
            "predicted_at",
            "uploaded_by",
            "uploaded_at",
        ]

    def get_url(self, bundle) -> str:
        return reverse("api:firmware-bundle-detail", args=[bundle.pk])

    def get_predictions_url(self, bundle) -> str:
        return reverse("api:firmware-bundle-predictions", args=[bundle.pk])

    def _counts(self, bundle) -> tuple[int, int]:
        rows = [p.pcrs is not None for p in bundle.predictions.all()]
        return sum(rows), len(rows) - sum(rows)

    def get_predicted(self, bundle) -> int:
        return self._counts(bundle)[0]

    def get_impossible(self, bundle) -> int:
        return self._counts(bundle)[1]


class BundlePredictionSerializer(serializers.ModelSerializer):
    node_name = serializers.CharField(source="node.name")
    site = serializers.CharField(source="node.site.code")
    pcrs = serializers.SerializerMethodField(
        help_text="sha256 PCR0-7 the node will quote with the bundle, {index: hex}; null when "
        "no prediction is possible (`reason` says why)."
    )
    acceptable = serializers.JSONField(
        help_text="Every vector its approved variants (cards, boot orders) may show."
    )
    reason = serializers.CharField(allow_null=True)
    reason_code = serializers.CharField(
        help_text="no_configuration, other_sku, missing_reference, no_reference, "
        "unapproved_variant or prediction_error; empty when predicted."
    )

    class Meta:
        model = BundlePrediction
        fields = [
            "node",
            "node_name",
            "site",
            "pcrs",
            "acceptable",
            "reason",
            "reason_code",
            "computed_at",
        ]

    @extend_schema_field(_PCRS)
    def get_pcrs(self, row) -> dict | None:
        return row.pcrs

    def to_representation(self, row):
        data = super().to_representation(row)
        data["reason"] = row.reason or None
        return data
