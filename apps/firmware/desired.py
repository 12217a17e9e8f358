"""The desired bundle per SKU: set by an engineer from the bundle's page or the API, audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.services import audit_record
from apps.firmware.models import DesiredBundle, FirmwareBundle


def desired_bundle_set(*, actor: Any, bundle_id: int) -> DesiredBundle:
    """Makes the bundle the one every node of its SKU should run (replacing the previous one
    of that SKU). The policy is checked again here for callers other than the views."""
    access.require(actor, Action.MANAGE_FIRMWARE)
    with transaction.atomic():
        bundle = FirmwareBundle.objects.select_related("profile").get(pk=bundle_id)
        previous = (
            DesiredBundle.objects.select_for_update()
            .filter(profile=bundle.profile)
            .select_related("bundle")
            .first()
        )
        desired, _ = DesiredBundle.objects.update_or_create(
            profile=bundle.profile,
            defaults={"bundle": bundle, "set_by": actor, "set_at": timezone.now()},
        )
        audit_record(
            actor=actor,
            action="firmware.desired_bundle_set",
            target=bundle,
            detail={
                "sku": bundle.profile.sku,
                "bundle_id": bundle.pk,
                "version": bundle.version,
                "previous_bundle_id": previous.bundle_id if previous else None,
                "previous_version": previous.bundle.version if previous else None,
            },
        )
    return desired
