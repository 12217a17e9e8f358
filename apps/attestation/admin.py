"""Attestation reference data in the admin: profiles and releases editable, evidence read-only."""

from django.contrib import admin

from apps.accounts.policy import Action
from apps.attestation.models import (
    AgentEndpoint,
    Attestation,
    Enrolment,
    FirmwareRelease,
    NodeConfiguration,
    PlatformProfile,
)
from apps.core.admin_site import PolicyAdmin


class FirmwareAdmin(PolicyAdmin):
    policy_action = Action.MANAGE_FIRMWARE


@admin.register(PlatformProfile)
class PlatformProfileAdmin(FirmwareAdmin):
    list_display = ["sku", "name"]
    search_fields = ["sku", "name"]


@admin.register(FirmwareRelease)
class FirmwareReleaseAdmin(FirmwareAdmin):
    list_display = ["profile", "version", "source", "created_at"]
    list_filter = ["profile", "source"]


@admin.register(NodeConfiguration)
class NodeConfigurationAdmin(FirmwareAdmin):
    list_display = ["node", "release", "updated_at"]
    list_select_related = ["node", "release", "release__profile"]
    raw_id_fields = ["node"]


@admin.register(AgentEndpoint)
class AgentEndpointAdmin(FirmwareAdmin):
    # The token is set by enrolment tooling only; it is stored encrypted and never shown.
    list_display = ["node", "host", "port", "updated_at"]
    exclude = ["token_encrypted"]
    read_only = True


@admin.register(Enrolment)
class EnrolmentAdmin(FirmwareAdmin):
    list_display = ["node", "ak_name", "enrolled_at", "superseded_at"]
    read_only = True


@admin.register(Attestation)
class AttestationAdmin(FirmwareAdmin):
    # Durable evidence: never edited or deleted by hand.
    list_display = ["node", "at", "verdict", "reason_code"]
    list_filter = ["verdict"]
    exclude = ["quote", "signature", "eventlog"]
    read_only = True
