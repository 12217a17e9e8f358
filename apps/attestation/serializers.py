"""The attestation API's documents, described for the schema (the views build them)."""

from rest_framework import serializers

from apps.attestation.badges import Badge
from apps.attestation.models import Attestation


class AttestationSerializer(serializers.Serializer):
    """One attestation of a node: the verifier's verdict on a TPM quote and its event log."""

    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    verdict = serializers.ChoiceField(choices=Attestation.Verdict.choices)
    reason_code = serializers.CharField(help_text="Machine-readable cause; empty when trusted.")
    reason = serializers.CharField(
        help_text="The cause in plain words, in English (stable for machines); empty when trusted."
    )
    reason_text = serializers.CharField(
        help_text="The same cause in the reader's language (Accept-Language or their choice)."
    )
    nonce = serializers.CharField()
    release = serializers.CharField(help_text="Firmware release the evidence was checked against.")
    pcrs = serializers.JSONField(help_text='PCR values as quoted: {"sha256": {"0": hex, ...}}.')
    reset_count = serializers.IntegerField(allow_null=True)
    restart_count = serializers.IntegerField(allow_null=True)
    clock = serializers.IntegerField(allow_null=True)
    rebooted = serializers.BooleanField(help_text="The node rebooted since its last quote.")
    divergences = serializers.JSONField(
        help_text="Where the evidence differs from the model; each `message` (English) comes "
        "with its `message_text` in the reader's language."
    )
    duration_ms = serializers.FloatField()


class NodeAttestationSerializer(serializers.Serializer):
    node = serializers.IntegerField()
    badge = serializers.ChoiceField(choices=[b.value for b in Badge])
    latest = AttestationSerializer(allow_null=True)
    history = AttestationSerializer(many=True, help_text="Newest first, at most `limit`.")


class AttestationQueuedSerializer(serializers.Serializer):
    node = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["queued"])


class PredictedEventSerializer(serializers.Serializer):
    pcr = serializers.IntegerField()
    type = serializers.CharField(help_text="TCG event type, e.g. EV_EFI_BOOT_SERVICES_APPLICATION.")
    label = serializers.CharField()
    sha256 = serializers.CharField(help_text="Digest extended into the PCR, hex.")


class PredictionSerializer(serializers.Serializer):
    node = serializers.IntegerField()
    release = serializers.CharField()
    pcrs = serializers.DictField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text='Predicted PCR values: {"sha256": {"0": hex, ..., "7": hex}}.',
    )
    events = PredictedEventSerializer(many=True)
