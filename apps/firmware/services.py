"""Firmware images and update requests: checked, stored, audited; the worker does the rest.

A request creates a FirmwareUpdate in a transaction (the partial unique index refuses a second
update in flight on the same node) and enqueues the task on commit; `apps.firmware.tracking`
owns the state machine from there.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts import access
from apps.accounts.policy import Action
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.firmware import tracking
from apps.firmware.images import BadImage, image_inspect
from apps.firmware.models import FirmwareImage, FirmwareUpdate
from apps.sites.models import Node

logger = logging.getLogger(__name__)


class UpdateConflict(Exception):
    """Another firmware update is already in flight on the node."""


class UpdateRefused(Exception):
    """The update cannot be asked of this node (its protocol, the image's SKU, ...)."""


def firmware_image_store(*, actor: Any, name: str, data: bytes) -> tuple[FirmwareImage, bool]:
    """Checks and keeps an uploaded image; (image, created). The same bytes uploaded again are
    the image already kept. `BadImage` says what is wrong with a refused one."""
    access.require(actor, Action.MANAGE_FIRMWARE)
    limit = settings.FIRMWARE_IMAGE_MAX_BYTES
    if len(data) > limit:
        raise BadImage(f"The image has {len(data)} bytes; at most {limit} are accepted.")
    facts = image_inspect(data)
    existing = FirmwareImage.objects.filter(sha256=facts.sha256).first()
    if existing is not None:
        return existing, False
    with transaction.atomic():
        image = FirmwareImage(
            component=facts.component,
            version=facts.version,
            sku=facts.sku,
            sha256=facts.sha256,
            size=facts.size,
            original_name=(name or "")[:200],
            uploaded_by=actor,
        )
        image.file.save(name or "image.bin", ContentFile(data), save=False)
        image.save()
        audit_record(
            actor=actor,
            action="firmware.image_upload",
            target=image,
            detail={
                "image_id": image.pk,
                "component": image.component,
                "version": image.version,
                "sku": image.sku,
                "sha256": image.sha256,
                "size": image.size,
            },
        )
    return image, True


def firmware_update_request(
    *,
    actor: Any,
    node: Node,
    image: FirmwareImage,
    method: str,
    apply_time: str = FirmwareUpdate.ApplyTime.ON_RESET,
    base_url: str = "",
    defer_reset: bool = False,
    target_uri: str = "",
) -> FirmwareUpdate:
    """Queues ``image`` for ``node`` (engineers). OnReset ends in a reset of the node, so the
    requester must also be allowed to press power buttons. ``base_url``: where the BMC reaches
    Heatsite for a SimpleUpdate, when ``FIRMWARE_IMAGE_BASE_URL`` does not say.
    ``defer_reset``: stop at ``staged``, the caller resets the node (a campaign, once for all
    of a bundle's components); ``target_uri``: the component's inventory URI (``Targets``)."""
    access.require(actor, Action.MANAGE_FIRMWARE)
    if method not in FirmwareUpdate.Method.values:
        raise ValueError(f"Unknown update method {method!r}.")
    if apply_time not in FirmwareUpdate.ApplyTime.values:
        raise ValueError(f"Unknown apply time {apply_time!r}.")
    if apply_time == FirmwareUpdate.ApplyTime.ON_RESET:
        access.require(actor, Action.POWER_CONTROL)
    try:
        if not node.speaks_redfish:
            raise UpdateRefused(
                f"{node.name}'s BMC does not speak Redfish (or was not probed yet): firmware "
                "updates need its UpdateService."
            )
        with transaction.atomic():
            try:
                with transaction.atomic():
                    update = FirmwareUpdate.objects.create(
                        node=node,
                        image=image,
                        method=method,
                        apply_time=apply_time,
                        target_version=image.version,
                        requested_by=actor,
                        image_base_url=base_url[:200],
                        defer_reset=defer_reset and apply_time == FirmwareUpdate.ApplyTime.ON_RESET,
                        target_uri=target_uri[:300],
                    )
            except IntegrityError:
                active = node.firmware_updates.filter(state__in=FirmwareUpdate.ACTIVE).first()
                what = f"{active.image} ({active.get_state_display().lower()})" if active else ""
                raise UpdateConflict(
                    f"{node.name} already has a firmware update in progress {what}; wait for it "
                    "to finish."
                ) from None
            audit_record(
                actor=actor,
                action="firmware.update",
                target=node,
                result=AuditEvent.Result.PENDING,
                detail={
                    "update_id": update.pk,
                    "image_id": image.pk,
                    "component": image.component,
                    "target_version": image.version,
                    "method": method,
                    "apply_time": apply_time,
                },
            )
            tracking.firmware_update_announce(update)
            transaction.on_commit(lambda: firmware_update_enqueue(update.pk))
    except (UpdateConflict, UpdateRefused) as refused:
        # written after the rollback, or the refusal would vanish with the request
        audit_record(
            actor=actor,
            action="firmware.update",
            target=node,
            result=AuditEvent.Result.REFUSED,
            detail={"image_id": image.pk, "reason": str(refused)},
        )
        raise
    return update


def firmware_update_enqueue(update_id: int) -> None:
    """Hands an update to a worker. A queue that is down fails a pending update with the reason
    (nothing was sent to the BMC); a later step is left for the resume sweep."""
    from apps.firmware.tasks import firmware_update_advance_task

    try:
        firmware_update_advance_task.delay(update_id)
    except Exception as error:
        logger.exception("firmware update %s could not be queued", update_id)
        with transaction.atomic():
            update = (
                FirmwareUpdate.objects.select_for_update(of=("self",))
                .select_related("node", "image", "requested_by")
                .filter(pk=update_id, state=FirmwareUpdate.State.PENDING)
                .first()
            )
            if update is None:
                return
            update.state = FirmwareUpdate.State.FAILED
            update.cause = "queue"
            update.reason = f"The task queue is unavailable; nothing was sent ({error})."[:500]
            update.finished_at = timezone.now()
            update.save(update_fields=["state", "cause", "reason", "finished_at"])
            audit_record(
                actor=update.requested_by,
                action="firmware.update",
                target=update.node,
                result=AuditEvent.Result.FAILED,
                detail={"update_id": update.pk, "cause": "queue", "reason": update.reason},
            )
