"""The audit trail: who did what, on what, when, with what result."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AuditEvent(models.Model):
    """One state-changing action, kept forever. Never updated once written.

    Append-only: on PostgreSQL a trigger refuses UPDATE and DELETE (migration 0002), so users
    and sites are deactivated rather than deleted (the actor is PROTECTed; the site link is
    not a database constraint). Hash-chained: `hash` covers the record and the previous
    record's hash (`prev_hash`); `manage.py audit_verify` recomputes the chain.
    """

    class Result(models.TextChoices):
        OK = "ok", _("Succeeded")
        FAILED = "failed", _("Failed")
        REFUSED = "refused", _("Refused")
        PENDING = "pending", _("Requested")

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    # Kept as text too, so the trail survives the user's deletion.
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    # A deleted site (seed_demo --reset) leaves its id here: the trail is never rewritten.
    site = models.ForeignKey(
        "sites.Site",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    result = models.CharField(max_length=16, choices=Result.choices, default=Result.OK)
    detail = models.JSONField(default=dict, blank=True)
    # How the actor authenticated: "session:password+totp", "token:12 hst_AbCd (operate)",
    # "anonymous" (a request without a signed-in user), "system" (tasks, commands, shell).
    auth = models.CharField(max_length=120, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "audit event")
        verbose_name_plural = pgettext_lazy("admin model name", "audit events")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or 'system'} {self.action}"


class AuditChainHead(models.Model):
    """The newest record of the chain (one row): writers lock it, so records chain in id
    order, and `audit_verify` notices a removed newest record."""

    last_id = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"audit chain head #{self.last_id}"
