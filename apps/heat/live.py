"""Live heat figures for the fleet and site pages: the meters' latest accepted readings, and
the events the poller pushes to those pages.

Only meters that are reading and were read within the gap limit count, so a site whose meter
went silent shows no value rather than a stale one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from apps.heat.buckets import hour_bucket, max_gap_s
from apps.heat.models import HourlyRollup, MeterState
from apps.sites.models import HeatMeter, Site


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


def utc_iso(ts: datetime | None) -> str | None:
    return ts.astimezone(UTC).isoformat() if ts is not None else None


def site_reading_events(
    site_ids: Iterable[int], *, fresh_meter_ids: set[int], polled_at: datetime
) -> dict[int, dict[str, Any]]:
    """The live ``heat.reading`` event of each site with a fresh reading, from meter state.

    A whitelist of partner-safe figures (never serials, hosts or errors): power and flow summed
    over the site's active meters read in this poll, flow-weighted temperatures, cumulative
    energy, and ``coverage`` = covered share of the current UTC hour so far (all active meters).
    ``polled_at`` (wall clock, when the poll started) lets a browser measure the latency.
    """
    states = list(
        MeterState.objects.filter(
            meter__site_id__in=list(site_ids),
            meter__removed_at__isnull=True,
            meter_id__in=fresh_meter_ids,
        ).values(
            "meter_id",
            "meter__site_id",
            "meter__site__contract_min_supply_c",
            "last_ts",
            "last_supply_c",
            "last_return_c",
            "last_flow_m3h",
            "last_power_kw",
            "last_energy_kwh",
        )
    )
    by_site: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for st in states:
        if st["last_ts"] is not None:
            by_site[st["meter__site_id"]].append(st)
    if not by_site:
        return {}
    hour = max(st["last_ts"] for rows in by_site.values() for st in rows)
    hour_start = hour_bucket(hour)[0]
    covered: dict[int, float] = defaultdict(float)
    for site_id, covered_s in HourlyRollup.objects.filter(
        site_id__in=list(by_site), bucket_start=hour_start
    ).values_list("site_id", "covered_s"):
        covered[site_id] += covered_s
    active = defaultdict(int)
    for site_id in HeatMeter.objects.filter(
        site_id__in=list(by_site), removed_at__isnull=True
    ).values_list("site_id", flat=True):
        active[site_id] += 1
    events = {}
    for site_id, rows in by_site.items():
        ts = max(st["last_ts"] for st in rows)
        flow = sum(st["last_flow_m3h"] or 0.0 for st in rows)

        def weighted(key: str, rows: list[dict[str, Any]] = rows, flow: float = flow) -> float:
            if flow > 0:
                return sum(st[key] * (st["last_flow_m3h"] or 0.0) for st in rows) / flow
            return sum(st[key] for st in rows) / len(rows)

        supply = weighted("last_supply_c")
        contract = float(rows[0]["meter__site__contract_min_supply_c"])
        elapsed = (ts - hour_start).total_seconds() * max(active[site_id], 1)
        events[site_id] = {
            "type": "heat.reading",
            "site_id": site_id,
            "ts": utc_iso(ts),
            "polled_at": utc_iso(polled_at),
            "power_kw": sum(st["last_power_kw"] or 0.0 for st in rows),
            "supply_c": supply,
            "return_c": weighted("last_return_c"),
            "flow_m3h": flow,
            "energy_kwh": sum(st["last_energy_kwh"] or 0.0 for st in rows),
            "coverage": min(covered[site_id] / elapsed, 1.0) if elapsed > 0 else None,
            "contract_min_supply_c": contract,
            "supply_ok": supply >= contract,
        }
    return events
