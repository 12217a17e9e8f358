"""Heat storage: raw meter readings, rejected readings, hourly/daily rollups, meter state.

Design notes (details and the PostgreSQL sizing in docs/heat-storage.md):

* ``Reading`` is append-only and narrow. Its only B-tree is the unique (meter, ts) index, which
  serves every per-meter range query and keeps ingestion idempotent; on PostgreSQL a BRIN index
  on ``ts`` is added by the migration for fleet-wide time scans.
* Rollups are maintained incrementally by ``ingest.ingest_readings``; pages and statements
  read them instead of raw rows.
* Energy figures are floats in kWh: float64 keeps 0.001 kWh resolution beyond 10¹⁰ kWh, well
  past any register we read.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.sites.models import HeatMeter, Site


class QualityFlag(models.IntegerChoices):
    """Bits of ``Reading.flags``: how a stored reading relates to its predecessor."""

    FIRST = 1, "First reading of this meter"
    ROLLOVER = 2, "Energy register wrapped since the previous reading"
    AFTER_GAP = 4, "Previous reading is older than the coverage gap limit"
    METER_STATUS = 8, "Meter reported status bits"
    REBASED = 16, "Follows a rejected register jump; energy in between not counted"


class Reading(models.Model):
    """One accepted meter reading (UTC). Rejected readings never land here."""

    id = models.BigAutoField(primary_key=True)
    meter = models.ForeignKey(
        HeatMeter, on_delete=models.CASCADE, related_name="readings", db_index=False
    )
    ts = models.DateTimeField()
    supply_c = models.FloatField()
    return_c = models.FloatField()
    flow_m3h = models.FloatField()
    power_kw = models.FloatField()
    energy_register_kwh = models.FloatField(help_text="As the meter shows it (wraps).")
    energy_kwh = models.FloatField(help_text="Cumulative, monotonic across rollovers.")
    status = models.PositiveIntegerField(default=0)
    flags = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meter", "ts"], name="heat_reading_meter_ts_uniq")
        ]

    def __str__(self) -> str:
        return f"meter {self.meter_id} @ {self.ts:%Y-%m-%d %H:%M:%S}"


class RejectedReading(models.Model):
    """A reading validation refused, kept with the reason for engineers (never billed)."""

    meter = models.ForeignKey(HeatMeter, on_delete=models.CASCADE, related_name="rejected_readings")
    ts = models.DateTimeField()
    received_at = models.DateTimeField()
    reason = models.CharField(max_length=32)
    detail = models.CharField(max_length=300, blank=True)
    values = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["meter", "ts"], name="heat_rejected_meter_ts")]

    def __str__(self) -> str:
        return f"meter {self.meter_id} @ {self.ts:%Y-%m-%d %H:%M:%S}: {self.reason}"


class RollupBase(models.Model):
    """Aggregates of one meter over one bucket [bucket_start, next bucket).

    ``energy_kwh`` comes from the register (billing truth): the register increase between a
    reading and its predecessor is booked in the bucket of the reading. ``energy_power_kwh``
    integrates power (trapezoids) over covered intervals only, split exactly at bucket edges,
    as are ``covered_s`` and the seconds at/above and below the contracted supply temperature
    (the supply read at an interval's start holds until the next reading). Intervals longer
    than the gap limit are gaps: not covered, not integrated, not counted either way.
    """

    meter = models.ForeignKey(HeatMeter, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    bucket_start = models.DateTimeField()
    readings = models.PositiveIntegerField(default=0)
    first_ts = models.DateTimeField(null=True)
    last_ts = models.DateTimeField(null=True)
    register_first_kwh = models.FloatField(null=True)
    register_last_kwh = models.FloatField(null=True)
    cumulative_first_kwh = models.FloatField(null=True)
    cumulative_last_kwh = models.FloatField(null=True)
    energy_kwh = models.FloatField(default=0)
    energy_power_kwh = models.FloatField(default=0)
    covered_s = models.FloatField(default=0)
    supply_ok_s = models.FloatField(default=0)
    supply_below_s = models.FloatField(default=0)
    supply_min_c = models.FloatField(null=True)
    supply_max_c = models.FloatField(null=True)
    supply_sum_c = models.FloatField(default=0)
    return_sum_c = models.FloatField(default=0)
    flow_sum_m3h = models.FloatField(default=0)
    power_sum_kw = models.FloatField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"meter {self.meter_id} from {self.bucket_start:%Y-%m-%d %H:%M}"


class HourlyRollup(RollupBase):
    """Per meter and UTC hour."""

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meter", "bucket_start"], name="heat_hourly_uniq")
        ]
        indexes = [models.Index(fields=["site", "bucket_start"], name="heat_hourly_site")]


class DailyRollup(RollupBase):
    """Per meter and *local* day of the site (bucket_start is local midnight in UTC)."""

    day = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["meter", "bucket_start"], name="heat_daily_uniq")
        ]
        indexes = [models.Index(fields=["site", "day"], name="heat_daily_site")]


class MeterState(models.Model):
    """What the poller knows about a meter now, plus the running register bookkeeping."""

    class Status(models.TextChoices):
        UNKNOWN = "unknown", _("Never read")
        OK = "ok", pgettext_lazy("meter state", "Reading")
        OFFLINE = "offline", pgettext_lazy("meter state", "Offline")
        REJECTING = "rejecting", _("Answering with rejected values")

    meter = models.OneToOneField(
        HeatMeter, on_delete=models.CASCADE, primary_key=True, related_name="state"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNKNOWN)
    last_polled_at = models.DateTimeField(null=True)
    last_ok_at = models.DateTimeField(null=True)
    offline_since = models.DateTimeField(null=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    # Last accepted reading: what pages show, and the predecessor of the next reading.
    last_ts = models.DateTimeField(null=True)
    last_supply_c = models.FloatField(null=True)
    last_return_c = models.FloatField(null=True)
    last_flow_m3h = models.FloatField(null=True)
    last_power_kw = models.FloatField(null=True)
    last_energy_kwh = models.FloatField(null=True)
    # Register baseline: the raw value the next delta is measured from (may be a rejected
    # reading's value after a jump, see ingest.reference.REBASING_REASONS).
    register_baseline_kwh = models.FloatField(null=True)
    register_changed_at = models.DateTimeField(null=True)
    rebased = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"meter {self.meter_id}: {self.status}"


class HeatAlarm(models.Model):
    """A heat alarm of a site (or one of its meters): raised once, cleared when it ends.

    Rows are never deleted: a cleared alarm is history. The two partial unique constraints keep
    at most one *active* alarm per site and kind (site-level alarms, ``meter`` null) and per
    meter and kind, so concurrent evaluations cannot raise the same alarm twice.
    ``partner_visible`` decides who hears of it (see ``apps.heat.alarms``).
    """

    class Kind(models.TextChoices):
        BELOW_CONTRACT = "below_contract", _("Supply below contracted minimum")
        METER_OFFLINE = "meter_offline", _("Heat meter offline")
        OUTPUT_DROP = "output_drop", _("Thermal output dropped sharply")

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="heat_alarms")
    meter = models.ForeignKey(
        HeatMeter, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    raised_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    detail = models.CharField(max_length=300)
    partner_visible = models.BooleanField(default=False)
    # Figures the condition was judged on (reference power, supply, last reading...).
    context = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site", "kind"],
                condition=models.Q(cleared_at__isnull=True, meter__isnull=True),
                name="heat_alarm_one_active_per_site",
            ),
            models.UniqueConstraint(
                fields=["meter", "kind"],
                condition=models.Q(cleared_at__isnull=True, meter__isnull=False),
                name="heat_alarm_one_active_per_meter",
            ),
        ]
        indexes = [models.Index(fields=["site", "-raised_at"], name="heat_alarm_site_raised")]

    def __str__(self) -> str:
        state = "active" if self.cleared_at is None else "cleared"
        return f"{self.get_kind_display()} at site {self.site_id} ({state})"

    @property
    def active(self) -> bool:
        return self.cleared_at is None
