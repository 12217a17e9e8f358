"""Power actions, BMC facts and sensor history of nodes."""

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class PowerBatch(models.Model):
    """A power action on several nodes of a site, run rolling with a concurrency limit."""

    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="power_batches")
    action = models.CharField(max_length=16)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    concurrency = models.PositiveSmallIntegerField(default=2)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.action} on {self.site} ({self.requested_at:%Y-%m-%d %H:%M})"


class PowerAction(models.Model):
    """One requested power or boot-device action on one node, and what became of it."""

    class Kind(models.TextChoices):
        ON = "on", _("Power on")
        OFF = "off", _("Power off (hard)")
        SOFT = "soft", _("Soft shutdown")
        RESET = "reset", _("Reset")
        CYCLE = "cycle", _("Power cycle")
        BOOT_DEVICE = "bootdev", _("Set boot device")

    class Status(models.TextChoices):
        PENDING = "pending", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    ACTIVE = (Status.PENDING, Status.RUNNING)
    DESTRUCTIVE = (Kind.OFF, Kind.SOFT, Kind.RESET, Kind.CYCLE)

    node = models.ForeignKey("sites.Node", on_delete=models.CASCADE, related_name="power_actions")
    batch = models.ForeignKey(
        PowerBatch, null=True, blank=True, on_delete=models.CASCADE, related_name="actions"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    params = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    # Handed to the task queue (a batch holds its later actions back until a slot frees).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Set just before the command goes to the BMC: tells a redelivered task it may have run.
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The worker process running it ("node name:main pid", apps.ops.liveness): when that worker
    # stops beating, apps.hardware.recovery hands the action back to the queue.
    worker = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    result = models.CharField(max_length=300, blank=True)
    error_cause = models.CharField(max_length=32, blank=True)
    error = models.CharField(max_length=500, blank=True)
    state_after = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # At most one action in flight per node: concurrent requests conflict here.
            models.UniqueConstraint(
                fields=["node"],
                condition=models.Q(status__in=["pending", "running"]),
                name="one_active_power_action_per_node",
            )
        ]
        indexes = [models.Index(fields=["node", "-requested_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.node} [{self.status}]"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


def firmware_versions(firmware: Any) -> dict[str, str]:
    """Component (its id and its name, lower case) → version, from a stored firmware inventory
    (`BmcFacts.firmware`); {} when it holds none."""
    out: dict[str, str] = {}
    for item in firmware if isinstance(firmware, list) else []:
        if isinstance(item, dict) and item.get("version"):
            for key in (item.get("id"), item.get("component")):
                if key:
                    out.setdefault(str(key).lower(), str(item["version"]))
    return out


def firmware_versions_digest(firmware: Any) -> str:
    """SHA-256 of the canonical `firmware_versions` of an inventory: equal digests, equal
    versions (what a read adds per node, such as its time, is left out)."""
    canonical = json.dumps(firmware_versions(firmware), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_expression(value: Any) -> bool:
    return hasattr(value, "resolve_expression")


class BmcFactsQuerySet(models.QuerySet):
    """Keeps `BmcFacts.versions_digest` on the writes that bypass `save()`: ``update``,
    ``bulk_create`` and ``bulk_update``. An inventory written as an SQL expression leaves the
    digest empty, which readers take as "not computed" (they read the JSON)."""

    def update(self, **kwargs: Any) -> int:
        # (bulk_update comes here with both, as CASE expressions)
        if "firmware" in kwargs and "versions_digest" not in kwargs:
            firmware = kwargs["firmware"]
            kwargs["versions_digest"] = (
                "" if _is_expression(firmware) else firmware_versions_digest(firmware)
            )
        return super().update(**kwargs)

    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> Any:
        objs = list(objs)
        for obj in objs:
            obj.versions_digest = firmware_versions_digest(obj.firmware)
        fields = kwargs.get("update_fields")
        if fields and "firmware" in fields:
            kwargs["update_fields"] = [*fields, "versions_digest"]
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(self, objs: Any, fields: Any, *args: Any, **kwargs: Any) -> int:
        if "firmware" in fields:
            objs = list(objs)
            for obj in objs:
                obj.versions_digest = firmware_versions_digest(obj.firmware)
            fields = [*fields, "versions_digest"]
        return super().bulk_update(objs, fields, *args, **kwargs)


class BmcFacts(models.Model):
    """What Heatsite knows about a node's BMC beyond its power state.

    ``versions_digest`` (`firmware_versions_digest` of ``firmware``) is kept by every write
    through the model: ``save()`` and the queryset's bulk writes. It lets the campaign dry run
    group a fleet's nodes by their versions without printing every node's inventory ("": not
    computed, read the JSON)."""

    node = models.OneToOneField("sites.Node", on_delete=models.CASCADE, related_name="bmc_facts")
    # feature -> available (False: the BMC refused or lacks it; the page says so).
    features = models.JSONField(default=dict, blank=True)
    inventory = models.JSONField(default=dict, blank=True)
    firmware = models.JSONField(default=list, blank=True)
    versions_digest = models.CharField(max_length=64, blank=True, editable=False)
    boot_device = models.JSONField(default=dict, blank=True)
    sensors = models.JSONField(default=list, blank=True)
    last_error_cause = models.CharField(max_length=32, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    backoff_until = models.DateTimeField(null=True, blank=True)
    # When the first read of inventory, firmware and boot device was last handed to the queue
    # (apps.hardware.details): one sweep enqueues it, not every sweep.
    details_requested_at = models.DateTimeField(null=True, blank=True)
    # BIOS attributes with the registry's names, and the changes pending for the next reset
    # (apps.hardware.details); {} until read. Password attributes' values are never stored.
    bios = models.JSONField(default=dict, blank=True)
    # The BMC's newest log entries (newest first) and when they were read; {} until read.
    bmc_log = models.JSONField(default=dict, blank=True)
    # Creation time of the newest chassis intrusion already alarmed (audited and pushed).
    intrusion_seen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BmcFactsQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "BMC facts"

    def __str__(self) -> str:
        return f"BMC of {self.node}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # only when the firmware is written (not deferred, not left out of update_fields)
        update_fields = kwargs.get("update_fields")
        if "firmware" not in self.get_deferred_fields() and (
            update_fields is None or "firmware" in update_fields
        ):
            self.versions_digest = firmware_versions_digest(self.firmware)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "versions_digest"}
        super().save(*args, **kwargs)


class NodeTelemetry(models.Model):
    """One sweep's view of one node: the sensor history behind the node charts."""

    node = models.ForeignKey("sites.Node", on_delete=models.CASCADE, related_name="telemetry")
    at = models.DateTimeField()
    power_state = models.CharField(max_length=8)
    power_w = models.FloatField(null=True)
    cpu_temp_c = models.FloatField(null=True)
    water_in_c = models.FloatField(null=True)
    water_out_c = models.FloatField(null=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["node", "-at"])]

    def __str__(self) -> str:
        return f"{self.node} @ {self.at:%H:%M:%S}"


class ElectricalDaily(models.Model):
    """Electrical energy drawn by a site's nodes over one *local* day of the site.

    Maintained incrementally by ``services.bmc_sweep_nodes``: each sweep integrates every
    answering node's power over the interval since its previous answer, split exactly at the
    site's local midnights. ``measured_*`` comes from the BMC (DCMI or power sensors; a node
    the BMC reports off draws 0 W, measured); ``nominal_*`` is the node's nominal power times
    its powered-on time where the BMC gives no power reading. Seconds are node-seconds, so
    coverage = covered_s / (nodes x day length). Intervals longer than the gap limit are gaps:
    not covered and not integrated (as for heat).
    """

    class Source(models.TextChoices):
        MEASURED = "measured", _("Measured by the BMCs")
        NOMINAL = "nominal", _("Nominal power x powered-on time")
        MIXED = "mixed", _("Partly measured, partly nominal")

    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    energy_kwh = models.FloatField(default=0)
    measured_kwh = models.FloatField(default=0)
    nominal_kwh = models.FloatField(default=0)
    measured_s = models.FloatField(default=0)
    nominal_s = models.FloatField(default=0)
    covered_s = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "day"], name="hardware_elecdaily_site_day")
        ]

    def __str__(self) -> str:
        return f"site {self.site_id} on {self.day}: {self.energy_kwh:.1f} kWh"

    @property
    def source(self) -> str | None:
        return energy_source(self.measured_s, self.nominal_s)


def energy_source(measured_s: float | None, nominal_s: float | None) -> str | None:
    """Which source a sum of electrical figures rests on (None when there is no data)."""
    measured, nominal = measured_s or 0.0, nominal_s or 0.0
    if measured and nominal:
        return ElectricalDaily.Source.MIXED
    if nominal:
        return ElectricalDaily.Source.NOMINAL
    if measured:
        return ElectricalDaily.Source.MEASURED
    return None
