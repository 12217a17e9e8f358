"""Firmware images and the durable record of one firmware update of one node."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.deconstruct import deconstructible


@deconstructible
class FirmwareStorage(FileSystemStorage):
    """Images live in ``FIRMWARE_IMAGE_ROOT`` (read when used, so tests can point it elsewhere),
    outside anything served: only a signed one-time URL (`apps.firmware.views`) hands one out."""

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(settings.FIRMWARE_IMAGE_ROOT)

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)

    @property
    def base_url(self) -> None:  # type: ignore[override]
        return None


def _image_path(image: FirmwareImage, filename: str) -> str:
    return f"{image.component.lower()}/{image.sha256}.bin"


class FirmwareImage(models.Model):
    """An uploaded firmware image, checked (format, manifest, digest) before it is stored."""

    component = models.CharField(max_length=16)
    version = models.CharField(max_length=64)
    sku = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64, unique=True)
    size = models.PositiveBigIntegerField()
    file = models.FileField(upload_to=_image_path, storage=FirmwareStorage(), max_length=200)
    original_name = models.CharField(max_length=200, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.component} {self.version} ({self.sku})"


class FirmwareUpdate(models.Model):
    """One image applied to one node, and every step of it, so a worker can die at any point.

    pending → staging (the image is being sent) → running (the BMC's task, polled) →
    applying (OnReset: the reset, a PowerAction) → verifying (versions read back) →
    succeeded | failed. The outcome is the version read back, never the BMC's word alone.
    """

    class Method(models.TextChoices):
        PUSH = "push", "Push (multipart upload)"
        SIMPLE = "simple", "SimpleUpdate (the BMC fetches a signed URL)"

    class ApplyTime(models.TextChoices):
        IMMEDIATE = "Immediate", "Immediate"
        ON_RESET = "OnReset", "On the next reset"

    class State(models.TextChoices):
        PENDING = "pending", "Queued"
        STAGING = "staging", "Sending the image"
        RUNNING = "running", "BMC task running"
        APPLYING = "applying", "Awaiting the reset"
        VERIFYING = "verifying", "Reading the version back"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE = (State.PENDING, State.STAGING, State.RUNNING, State.APPLYING, State.VERIFYING)

    node = models.ForeignKey(
        "sites.Node", on_delete=models.CASCADE, related_name="firmware_updates"
    )
    image = models.ForeignKey(FirmwareImage, on_delete=models.PROTECT, related_name="updates")
    method = models.CharField(max_length=8, choices=Method.choices)
    apply_time = models.CharField(
        max_length=16, choices=ApplyTime.choices, default=ApplyTime.ON_RESET
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    # Last time a worker touched the update: the resume sweep re-enqueues the quiet ones.
    activity_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)  # tries at sending the image
    # Set just before the image goes to the BMC: tells a redelivered task it may have gone.
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)  # the BMC accepted the task
    finished_at = models.DateTimeField(null=True, blank=True)
    # The BMC's task (paths on the BMC), and what it last said.
    task_monitor = models.CharField(max_length=300, blank=True)
    task_uri = models.CharField(max_length=300, blank=True)
    task_state = models.CharField(max_length=32, blank=True)
    task_status = models.CharField(max_length=16, blank=True)
    task_message = models.CharField(max_length=500, blank=True)
    task_completed = models.BooleanField(default=False)  # the BMC said Completed/OK
    percent = models.PositiveSmallIntegerField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)  # percent last moved
    last_polled_at = models.DateTimeField(null=True, blank=True)
    lost_since = models.DateTimeField(null=True, blank=True)  # BMC unreachable since
    # OnReset: the reset requested through the power-action machinery (never a second one).
    power_action = models.ForeignKey(
        "hardware.PowerAction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reset_requested_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)  # the reset done (or Immediate)
    previous_version = models.CharField(max_length=64, blank=True)
    target_version = models.CharField(max_length=64)
    version_read_back = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    cause = models.CharField(max_length=32, blank=True)
    # SimpleUpdate: the signed URL's nonce and when the BMC fetched it (one fetch only).
    url_nonce = models.CharField(max_length=32, blank=True)
    url_fetched_at = models.DateTimeField(null=True, blank=True)
    image_base_url = models.CharField(max_length=200, blank=True)  # from the request, if any

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # At most one update in flight per node: concurrent requests conflict here.
            models.UniqueConstraint(
                fields=["node"],
                condition=models.Q(
                    state__in=["pending", "staging", "running", "applying", "verifying"]
                ),
                name="one_active_firmware_update_per_node",
            )
        ]
        indexes = [
            models.Index(fields=["node", "-requested_at"]),
            models.Index(fields=["state", "activity_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.image} on {self.node} [{self.state}]"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE
