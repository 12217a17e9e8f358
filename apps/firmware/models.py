"""Firmware images and the durable record of one firmware update of one node."""

from __future__ import annotations

import hashlib
import json
import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy


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
        PUSH = "push", gettext_lazy("Push (multipart upload)")
        SIMPLE = "simple", gettext_lazy("SimpleUpdate (the BMC fetches a signed URL)")

    class ApplyTime(models.TextChoices):
        IMMEDIATE = "Immediate", gettext_lazy("Immediate")
        ON_RESET = "OnReset", gettext_lazy("On the next reset")

    class State(models.TextChoices):
        PENDING = "pending", gettext_lazy("Queued")
        STAGING = "staging", gettext_lazy("Sending the image")
        RUNNING = "running", gettext_lazy("BMC task running")
        APPLYING = "applying", gettext_lazy("Awaiting the reset")
        VERIFYING = "verifying", gettext_lazy("Reading the version back")
        # defer_reset: the image is staged on the BMC, the reset is the caller's (a campaign
        # resets a node once per bundle); settled by the version read back after that reset.
        STAGED = "staged", gettext_lazy("Staged (awaiting the node's reset)")
        SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
        FAILED = "failed", gettext_lazy("Failed")

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
    # OnReset without its own reset: the update stops at ``staged`` and whoever asked (a
    # campaign node, `apps.firmware.campaign_steps`) requests one reset for all its components.
    defer_reset = models.BooleanField(default=False)
    # The component's Redfish FirmwareInventory URI, sent as ``Targets`` when known.
    target_uri = models.CharField(max_length=300, blank=True)

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


class FirmwareBundle(models.Model):
    """A signed firmware release for one SKU: component images in apply order, dependency
    constraints and the reference measurements that predict what nodes will measure with it.

    Accepted only when its manifest is signed by a trusted release key (`apps.firmware.signatures`)
    and every image matches the manifest's digest and size; campaigns reference bundles.
    """

    class Source(models.TextChoices):
        ARTEFACTS = "artefacts", gettext_lazy("Computed from build artefacts")
        GOLDEN = "golden", gettext_lazy("Harvested from a golden boot")

    profile = models.ForeignKey(
        "attestation.PlatformProfile", on_delete=models.PROTECT, related_name="firmware_bundles"
    )
    version = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    # The manifest as signed, and the SHA-256 of its canonical bytes.
    manifest = models.JSONField()
    manifest_sha256 = models.CharField(max_length=64, unique=True)
    # [{"component": "BIOS", "requires": [{"component": "BMC", "min_version": "2.42"}]}]
    requires = models.JSONField(default=list, blank=True)
    measurement_source = models.CharField(max_length=16, choices=Source.choices)
    # The firmware release whose reference measurements predict this bundle's PCRs; the
    # version is kept even while no such release is recorded (then nothing can be predicted).
    release_version = models.CharField(max_length=64, blank=True)
    release = models.ForeignKey(
        "attestation.FirmwareRelease",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bundles",
    )
    golden_pcrs = models.JSONField(default=dict, blank=True)  # {"0": hex, ...} if given
    signature_alg = models.CharField(max_length=32)
    signature_key_id = models.CharField(max_length=64)
    signature_key_sha256 = models.CharField(max_length=64)
    signature = models.TextField()  # base64, detached over the canonical manifest
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    predicted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "version"], name="one_bundle_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.profile.sku} bundle {self.version}"


class BundleComponent(models.Model):
    """One image of a bundle, at its place in the apply order."""

    bundle = models.ForeignKey(FirmwareBundle, on_delete=models.CASCADE, related_name="components")
    position = models.PositiveSmallIntegerField()  # 0 is applied first
    component = models.CharField(max_length=16)
    version = models.CharField(max_length=64)
    image = models.ForeignKey(FirmwareImage, on_delete=models.PROTECT, related_name="bundles")
    file_name = models.CharField(max_length=200)

    class Meta:
        ordering = ["bundle", "position"]
        constraints = [
            models.UniqueConstraint(fields=["bundle", "position"], name="bundle_position"),
            models.UniqueConstraint(fields=["bundle", "component"], name="bundle_component"),
        ]

    def __str__(self) -> str:
        return f"{self.bundle}: {self.component} {self.version}"


class DesiredBundle(models.Model):
    """The bundle every node of a SKU should run: what the compliance view compares each
    node's component versions with. One per SKU, set by an engineer (audited)."""

    profile = models.OneToOneField(
        "attestation.PlatformProfile", on_delete=models.CASCADE, related_name="desired_bundle"
    )
    bundle = models.ForeignKey(FirmwareBundle, on_delete=models.PROTECT, related_name="+")
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"desired {self.bundle}"


class BundlePrediction(models.Model):
    """What one node of the bundle's SKU will measure once the bundle is applied, or why that
    cannot be predicted (such a node cannot be in a campaign)."""

    bundle = models.ForeignKey(FirmwareBundle, on_delete=models.CASCADE, related_name="predictions")
    node = models.ForeignKey(
        "sites.Node", on_delete=models.CASCADE, related_name="bundle_predictions"
    )
    pcrs = models.JSONField(null=True, blank=True)  # {"0": hex, ...} sha256 PCR0-7
    # Every vector its approved variants may show with the bundle ([{"0": hex, ...}, ...]).
    acceptable = models.JSONField(default=list, blank=True)
    reason_code = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    computed_at = models.DateTimeField()
    # The prediction class: SHA-256 of the canonical PCR vector, computed when the prediction
    # is saved ("" : no prediction), so a dry run compares 64 characters instead of the PCRs.
    pcrs_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["node__name"]
        constraints = [
            models.UniqueConstraint(fields=["bundle", "node"], name="one_prediction_per_node")
        ]

    def __str__(self) -> str:
        return f"{self.bundle} on {self.node}"

    def save(self, *args, **kwargs):
        self.pcrs_digest = prediction_class(self.pcrs)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "pcrs" in update_fields:
            kwargs["update_fields"] = {*update_fields, "pcrs_digest"}
        super().save(*args, **kwargs)

    @property
    def predicted(self) -> bool:
        return self.pcrs is not None


def prediction_class(pcrs: dict | None) -> str:
    """The prediction class of a PCR vector: SHA-256 of its canonical JSON ("" for None)."""
    if pcrs is None:
        return ""
    canonical = json.dumps({str(k): v for k, v in pcrs.items()}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Campaigns live in their own module; imported here so Django registers them with the app.
from apps.firmware.campaigns import (  # noqa: E402
    Campaign,
    CampaignNode,
    CampaignWave,
    MaintenanceWindow,
)

__all__ = [
    "BundleComponent",
    "BundlePrediction",
    "Campaign",
    "CampaignNode",
    "CampaignWave",
    "FirmwareBundle",
    "FirmwareImage",
    "FirmwareUpdate",
    "MaintenanceWindow",
]
