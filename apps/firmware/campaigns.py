"""Firmware campaigns: a bundle rolled out to many nodes in waves, planned and approved first.

This module holds the durable state only. The plan (waves, heat budget, exclusions) is computed
by `apps.firmware.campaign_plan`; lifecycle transitions go through
`apps.firmware.campaign_services`; the executor (`apps.firmware.campaign_run`,
`apps.firmware.campaign_steps`) drives waves and fills each `CampaignNode`'s step. Imported by
`apps.firmware.models` so Django registers the models.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy, pgettext_lazy


class Campaign(models.Model):
    """A bundle + targets + strategy, created as a plan and approved by a second engineer.

    planned → approved → running ⇄ paused; running → halted (the executor's error threshold)
    → running (resumed, failures acknowledged); running → completed; any not-finished state →
    aborted; a campaign that flashed something → rolling_back → rolled_back.
    """

    class State(models.TextChoices):
        PLANNED = "planned", pgettext_lazy("campaign state", "Planned (awaiting approval)")
        APPROVED = "approved", pgettext_lazy("campaign state", "Approved")
        RUNNING = "running", pgettext_lazy("campaign state", "Running")
        PAUSED = "paused", pgettext_lazy("campaign state", "Paused")
        HALTED = "halted", pgettext_lazy("campaign state", "Halted")
        COMPLETED = "completed", pgettext_lazy("campaign state", "Completed")
        ABORTED = "aborted", pgettext_lazy("campaign state", "Aborted")
        ROLLING_BACK = "rolling_back", pgettext_lazy("campaign state", "Rolling back")
        ROLLED_BACK = "rolled_back", pgettext_lazy("campaign state", "Rolled back")

    bundle = models.ForeignKey(
        "firmware.FirmwareBundle", on_delete=models.PROTECT, related_name="campaigns"
    )
    name = models.CharField(max_length=200)
    # {"sites": [code|id, ...], "nodes": [name|id, ...], "current": {"BIOS": "1.4.0"}}
    targets = models.JSONField(default=dict, blank=True)
    # `campaign_plan.Strategy` as JSON (waves, canary, soak, heat budget, gates).
    strategy = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PLANNED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # Why the executor halted it (or the reason given for an abort), for the page and API.
    reason = models.CharField(max_length=500, blank=True)
    # Every transition: [{"action", "from", "to", "by", "at", "note"}], oldest first.
    history = models.JSONField(default=list, blank=True)
    # The dry run as approved (`CampaignPlan.as_dict()` without the per-node lists).
    plan = models.JSONField(default=dict, blank=True)
    # The executor's heartbeat (`apps.firmware.campaign_run`): a running campaign whose
    # heartbeat is older than ``CAMPAIGN_STALLED_SECONDS`` is shown stalled.
    advanced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"campaign {self.name}"

    def stalled_at(self, now: datetime) -> bool:
        """Running (or rolling back) but no executor round for ``CAMPAIGN_STALLED_SECONDS``:
        its worker is gone. Shown as stalled, never silently "running"."""
        if self.state not in (self.State.RUNNING, self.State.ROLLING_BACK):
            return False
        last = self.advanced_at or self.state_changed_at or self.started_at
        bound = timedelta(seconds=getattr(settings, "CAMPAIGN_STALLED_SECONDS", 300))
        return last is not None and now - last > bound

    @property
    def is_stalled(self) -> bool:
        return self.stalled_at(timezone.now())


class CampaignWave(models.Model):
    """One wave of a campaign: the canary (every hardware class, ≤ 1 node per site) or a wave."""

    class Kind(models.TextChoices):
        CANARY = "canary", pgettext_lazy("wave kind", "Canary")
        WAVE = "wave", pgettext_lazy("wave kind", "Wave")

    class State(models.TextChoices):
        PENDING = "pending", pgettext_lazy("wave state", "Pending")
        RUNNING = "running", pgettext_lazy("wave state", "Running")
        SOAKING = "soaking", pgettext_lazy("wave state", "Soaking")
        SUCCEEDED = "succeeded", pgettext_lazy("wave state", "Succeeded")
        FAILED = "failed", pgettext_lazy("wave state", "Failed")
        SKIPPED = "skipped", pgettext_lazy("wave state", "Skipped")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="waves")
    index = models.PositiveIntegerField()  # 0 is run first (the canary when there is one)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    node_count = models.PositiveIntegerField(default=0)
    # Planned per-site concurrency and worst heat loss: {"<site id>": {"concurrency", "loss_w"}}
    budget = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "index"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "index"], name="campaign_wave_index")
        ]

    def __str__(self) -> str:
        return f"{self.campaign} wave {self.index}"


class CampaignNode(models.Model):
    """One node of a campaign, in its wave; the executor moves ``step`` and ``state``."""

    class Step(models.TextChoices):
        QUEUED = "queued", gettext_lazy("Queued")
        PRE_HOOK = "pre_hook", gettext_lazy("Draining (pre-hook)")
        STAGING = "staging", gettext_lazy("Image staged, update task")
        APPLYING = "applying", gettext_lazy("Applying (reset)")
        VERSIONS = "versions", gettext_lazy("BMC stable, versions read back")
        ATTESTING = "attesting", gettext_lazy("Fresh quote against the prediction")
        THERMAL = "thermal", gettext_lazy("Heat back")
        POST_HOOK = "post_hook", gettext_lazy("Undraining (post-hook)")
        DONE = "done", gettext_lazy("Done")

    class State(models.TextChoices):
        PENDING = "pending", gettext_lazy("Pending")
        RUNNING = "running", gettext_lazy("Running")
        SUCCEEDED = "succeeded", gettext_lazy("Succeeded")
        FAILED = "failed", gettext_lazy("Failed")
        SKIPPED = "skipped", gettext_lazy("Skipped")
        ROLLED_BACK = "rolled_back", gettext_lazy("Rolled back")

    # Not "nodes": the audit trail takes a target with `nodes` for a site.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="campaign_nodes")
    wave = models.ForeignKey(CampaignWave, on_delete=models.CASCADE, related_name="nodes")
    node = models.ForeignKey("sites.Node", on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=16, choices=Step.choices, default=Step.QUEUED)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The node's versions before the campaign touched it ({component: version}): rollback target.
    previous_versions = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    step_started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The executor's own (`apps.firmware.campaign_steps`): forward to the campaign's bundle, or
    # rollback to the versions the node had.
    phase = models.CharField(max_length=8, default="forward")
    update = models.ForeignKey(
        "firmware.FirmwareUpdate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    good_reads = models.PositiveSmallIntegerField(default=0)  # consecutive stable BMC reads
    # The bundle whose components the node ran before (rollback applies it), if one matches.
    previous_bundle = models.ForeignKey(
        "firmware.FirmwareBundle",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reset_at = models.DateTimeField(null=True, blank=True)  # first reset requested: heat lost
    # The one reset of this attempt (every staged component applied by it), requested through
    # the power-action machinery under this row's lock: never a second one.
    power_action = models.ForeignKey(
        "hardware.PowerAction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    heat_back_at = models.DateTimeField(null=True, blank=True)  # thermal gate passed
    # pre-flash draw and supply, warnings, the step timeline, the attestation's divergences
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["campaign", "wave__index", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "node"], name="campaign_node_once")
        ]
        indexes = [models.Index(fields=["campaign", "state"])]

    def __str__(self) -> str:
        return f"{self.node} in {self.campaign}"


class MaintenanceWindow(models.Model):
    """A weekly window in the site's local time during which campaigns may take its nodes down.

    A window whose end is not after its start runs past midnight (22:00-02:00). Several per
    site; a site without any window is not restricted. Times are wall-clock times of the site's
    timezone, so a window keeps its local hours across DST changes.
    """

    site = models.ForeignKey(
        "sites.Site", on_delete=models.CASCADE, related_name="maintenance_windows"
    )
    weekday = models.PositiveSmallIntegerField(help_text="0 = Monday … 6 = Sunday (local).")
    start = models.TimeField(help_text="Local start time.")
    end = models.TimeField(help_text="Local end time (≤ start: the next day).")

    class Meta:
        verbose_name = pgettext_lazy("admin model name", "maintenance window")
        verbose_name_plural = pgettext_lazy("admin model name", "maintenance windows")
        ordering = ["site", "weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(weekday__gte=0, weekday__lte=6), name="window_weekday_range"
            )
        ]

    def __str__(self) -> str:
        return f"{self.site} window {self.weekday} {self.start:%H:%M}-{self.end:%H:%M}"
