"""Live heat figures for the fleet and site pages: the meters' latest accepted readings.

Only meters that are reading and were read within the gap limit count, so a site whose meter
went silent shows no value rather than a stale one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from apps.heat.models import MeterState
from apps.heat.services import max_gap_s
from apps.sites.models import Site


def _fresh(now: datetime | None) -> Q:
    now = now or timezone.now()
    return Q(
        meter__removed_at__isnull=True,
        status=MeterState.Status.OK,
        last_ts__gte=now - timedelta(seconds=max_gap_s()),
        last_power_kw__isnull=False,
    )


def live_power(
    site_ids: Iterable[int] | QuerySet[Site], now: datetime | None = None
) -> dict[int, float]:
    """Current thermal power per site (kW), one query."""
    rows = (
        MeterState.objects.filter(_fresh(now), meter__site_id__in=site_ids)
        .values_list("meter__site_id")
        .annotate(kw=Sum("last_power_kw"))
    )
    return dict(rows)


def live_total(sites: QuerySet[Site], now: datetime | None = None) -> float | None:
    """Current thermal power of all these sites together (kW), one aggregate query: the fleet
    total costs the same at 10 sites as at 10,000."""
    total = MeterState.objects.filter(_fresh(now), meter__site__in=sites).aggregate(
        kw=Sum("last_power_kw")
    )["kw"]
    return round(total, 2) if total is not None else None


def live_totals_by_partner(now: datetime | None = None) -> dict[int, float]:
    """Current thermal power per partner organisation (kW), one aggregate query."""
    rows = (
        MeterState.objects.filter(_fresh(now))
        .values_list("meter__site__partner_id")
        .annotate(kw=Sum("last_power_kw"))
    )
    return {partner_id: round(kw, 2) for partner_id, kw in rows}


def totals_broadcast(partner_ids: Iterable[int], now: datetime | None = None) -> None:
    """Pushes `heat.fleet_total` to the fleet group and to each given partner's group, so the
    fleet page's total follows the meters without the page knowing every site's value."""
    from apps.core.realtime import broadcast

    totals = live_totals_by_partner(now)
    broadcast(
        "fleet.heat", {"type": "heat.fleet_total", "power_kw": round(sum(totals.values()), 2)}
    )
    for partner_id in partner_ids:
        broadcast(
            f"partner.{partner_id}.heat",
            {"type": "heat.fleet_total", "power_kw": totals.get(partner_id, 0.0)},
        )
