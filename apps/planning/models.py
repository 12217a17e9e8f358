"""Saved site selections: a hand-made list of sites a planner names and shares by URL."""

import secrets

from django.conf import settings
from django.db import models


def new_selection_key() -> str:
    # Unguessable enough that a shared link does not enumerate others' selections.
    return secrets.token_urlsafe(9)


class SiteSelection(models.Model):
    """A named set of sites, opened with ``/compare/?selection=<key>`` by anyone who may
    compare sites (the sites shown are still those the viewer may see)."""

    key = models.CharField(max_length=16, unique=True, default=new_selection_key, editable=False)
    name = models.CharField(max_length=120)
    sites = models.ManyToManyField("sites.Site", related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"


class SiteMonth(models.Model):
    """Heat and electrical sums of one site over the settled days of one calendar month.

    A cache of ``heat.DailyRollup`` and ``hardware.ElectricalDaily``, so a year-long comparison
    reads ~12 rows per site instead of ~365. The row covers the site-local days
    ``[month, MonthRefresh.through)``: only days no later reading can change any more (older
    readings are rejected and gaps are never back-filled, so a day is final once the gap
    limit has passed after its last local midnight anywhere). Written only by
    ``services.site_months_refresh``; the comparison reads the other days from the rollups.
    """

    site = models.ForeignKey("sites.Site", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="First day of the month.")
    energy_kwh = models.FloatField(default=0)
    energy_power_kwh = models.FloatField(default=0)
    covered_s = models.FloatField(default=0)
    supply_ok_s = models.FloatField(default=0)
    supply_below_s = models.FloatField(default=0)
    readings = models.BigIntegerField(default=0)
    supply_sum_c = models.FloatField(default=0)
    supply_min_c = models.FloatField(null=True)
    elec_kwh = models.FloatField(null=True)
    elec_measured_s = models.FloatField(default=0)
    elec_nominal_s = models.FloatField(default=0)
    elec_covered_s = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "month"], name="planning_sitemonth_uniq")
        ]

    def __str__(self) -> str:
        return f"site {self.site_id} in {self.month:%Y-%m}"


class MonthRefresh(models.Model):
    """When ``SiteMonth`` rows of a month were last recomputed (for every site at once), and
    the day after the last day they cover."""

    month = models.DateField(primary_key=True)
    through = models.DateField(help_text="Days [month, through) are in SiteMonth.")
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} through {self.through} ({self.refreshed_at:%Y-%m-%d %H:%M})"
