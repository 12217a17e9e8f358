"""Site gateways: who they are (public keys only), which sites they serve, what they were asked."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.utils.translation import pgettext_lazy


class Gateway(models.Model):
    """A gateway at a site: a Celery worker on its own RabbitMQ queue and user. Heatsite keeps
    only its public keys; the private ones never leave the gateway."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("gateway", "Active")
        REVOKED = "revoked", pgettext_lazy("gateway", "Revoked")

    name = models.SlugField(max_length=48, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    box_public_key = models.CharField(max_length=64)  # X25519, base64: secrets sealed to it
    signing_public_key = models.CharField(max_length=64)  # Ed25519, base64: its answers
    enrolled_at = models.DateTimeField(auto_now_add=True)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_contact_at = models.DateTimeField(null=True, blank=True)
    version = models.CharField(max_length=32, blank=True)
    # its firmware-image relay as the site's BMCs reach it (from its heartbeat; "" = none)
    image_base_url = models.CharField(max_length=200, blank=True)
    # its meter-reading spool as its last heartbeat told: readings waiting for the central side
    # (their oldest read time) and dropped since it was installed (the spool was full)
    spool_depth = models.PositiveIntegerField(null=True, blank=True)
    spool_dropped = models.PositiveBigIntegerField(default=0)
    spool_oldest_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def queue(self) -> str:
        return f"gw.{self.name}"


class GatewaySite(models.Model):
    """A site's hardware is reached through this gateway (at most one per site)."""

    site = models.OneToOneField("sites.Site", on_delete=models.CASCADE, related_name="gateway_link")
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="site_links")

    def __str__(self) -> str:
        return f"{self.site_id} via {self.gateway_id}"


class GatewayCall(models.Model):
    """One message sent to a gateway that needs an answer by ``deadline`` (power actions, polls,
    TPM quotes and enrolments; ``detail`` keeps what the answer is judged against, e.g. the
    nonces a quote call asked for)."""

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        ANSWERED = "answered", "Answered"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="calls")
    kind = models.CharField(max_length=16)
    action = models.ForeignKey(
        "hardware.PowerAction", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENT)
    sent_at = models.DateTimeField()
    start_by = models.DateTimeField()  # the gateway does not start it later than this
    deadline = models.DateTimeField()  # failed centrally if not answered by then
    answered_at = models.DateTimeField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "deadline"]),
            # a firmware update's (or campaign node's) calls: `gateways.firmware` finds them by
            # the subject in ``detail`` on every step
            models.Index(KeyTransform("subject", "detail"), name="gatewaycall_fw_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} via {self.gateway_id}"
