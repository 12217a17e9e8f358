"""The plain maintenance notice a site shows while a campaign has nodes of it in a wave.

Partners see "Planned maintenance: heat output may dip by up to 1.2 kW until 11:00", nothing
more: no node, no firmware, no campaign. Engineers see the same line on the site page.

A site is in maintenance when one of its campaign nodes has started and not finished
(``running``, whatever the campaign's state: a node half-way through its flash is down even in
a paused campaign), or when a wave of a running campaign still has nodes of the site pending
while the site may be worked on (no maintenance windows, or one open now).

The dip is the worst the heat budget allows at once at the site: the nodes running now (every
campaign's, as the executor counts them) plus the largest-drawing pending ones up to the planned
concurrency for the site (the wave's budget, else the strategy's ``max_down_per_site``). A
node's draw is its live ``power_w``; a node already down reads 0 W or nothing, so the draw the
executor recorded before flashing it (``detail["pre_power_w"]``), else its nominal power,
stands in; with none of them the dip has no number (``max_dip_kw`` None, "may dip"), never 0.

``until`` is the wave's estimated end (its start + the plan's minutes for it; past that, the
site's remaining rounds × the expected minutes per node from now), or the current maintenance
window's end when that comes first, in the site's local time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format

from apps.firmware.campaign_windows import Window, window_next
from apps.firmware.models import Campaign, CampaignNode, CampaignWave, MaintenanceWindow
from apps.sites.models import Site

# Campaign states in which a wave goes on taking pending nodes down.
_ADVANCING = (Campaign.State.RUNNING, Campaign.State.ROLLING_BACK)
_NODE_MINUTES = 20  # the planner's default, for a campaign whose strategy does not say


def _draw(power_w: float | None, nominal_w: int | None) -> float | None:
    if power_w:
        return float(power_w)
    return float(nominal_w) if nominal_w else None


def _concurrency(budget: Any, strategy: Any, site_id: int) -> int:
    """The wave's planned nodes down at once for the site, else the strategy's limit."""
    planned = budget.get(str(site_id)) if isinstance(budget, dict) else None
    limit = strategy.get("max_down_per_site") if isinstance(strategy, dict) else None
    value = (planned or {}).get("concurrency") if isinstance(planned, dict) else None
    try:
        return max(int(value or limit or 1), 1)
    except (TypeError, ValueError):
        return 1


def _wave_minutes(plan: dict[str, Any], index: int) -> int | None:
    for wave in plan.get("waves") or []:
        if isinstance(wave, dict) and wave.get("index") == index:
            minutes = wave.get("minutes")
            return int(minutes) if isinstance(minutes, int | float) else None
    return None


def _estimate(group: dict[str, Any], concurrency: int, now: datetime) -> datetime:
    """When the wave is expected to be done with the site."""
    node_minutes = group["strategy"].get("node_minutes") or _NODE_MINUTES
    remaining = len(group["running"]) + len(group["pending"])
    by_site = now + timedelta(minutes=math.ceil(remaining / concurrency) * node_minutes)
    started, minutes = group["started_at"], _wave_minutes(group["plan"], group["index"])
    if started is not None and minutes is not None:
        planned = started + timedelta(minutes=minutes)
        if planned > now:
            return planned
    return by_site


def _windows(site_ids: Iterable[int]) -> dict[int, list[Window]]:
    out: dict[int, list[Window]] = {}
    for site_id, weekday, start, end in MaintenanceWindow.objects.filter(
        site_id__in=list(site_ids)
    ).values_list("site_id", "weekday", "start", "end"):
        out.setdefault(site_id, []).append(Window(weekday, start, end))
    return out


def site_maintenance_notices(
    sites: Iterable[Site], *, now: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """{site id: {"until": local datetime, "until_label": "11:00" (or with the day when not
    today), "max_dip_kw": float | None}} for the sites in
    maintenance now (others absent). A fixed number of queries for any number of sites."""
    now = now or timezone.now()
    by_id = {site.pk: site for site in sites}
    rows = CampaignNode.objects.filter(
        node__site_id__in=list(by_id),
        state__in=(CampaignNode.State.RUNNING, CampaignNode.State.PENDING),
    ).values_list(
        "state",
        "node__site_id",
        "node__power_w",
        "node__nominal_power_w",
        "detail",
        "wave_id",
        "wave__index",
        "wave__state",
        "wave__started_at",
        "wave__budget",
        "campaign__state",
        "campaign__strategy",
        "campaign__plan",
    )
    sites_in: dict[int, dict[str, Any]] = {}
    for (
        state,
        site_id,
        power_w,
        nominal_w,
        detail,
        wave_id,
        index,
        wave_state,
        started_at,
        budget,
        campaign_state,
        strategy,
        plan,
    ) in rows:
        if state == CampaignNode.State.PENDING and not (
            campaign_state in _ADVANCING and wave_state == CampaignWave.State.RUNNING
        ):
            continue
        site = sites_in.setdefault(site_id, {"running": [], "pending": [], "waves": {}})
        wave = site["waves"].setdefault(
            wave_id,
            {
                "index": index,
                "started_at": started_at,
                "strategy": strategy if isinstance(strategy, dict) else {},
                "plan": plan if isinstance(plan, dict) else {},
                "concurrency": _concurrency(budget, strategy, site_id),
                "running": [],
                "pending": [],
            },
        )
        # A node already down reads 0 W: the draw the executor saw before it flashed it.
        before = detail.get("pre_power_w") if isinstance(detail, dict) else None
        draw = _draw(power_w or before, nominal_w)
        site[state].append(draw)
        wave[state].append(draw)
    notices: dict[int, dict[str, Any]] = {}
    windows = _windows(sites_in) if sites_in else {}
    for site_id, found in sites_in.items():
        site = by_id[site_id]
        window = None
        if windows.get(site_id):
            window = window_next(windows[site_id], site.timezone, now)
            if window is not None and window[0] > now:
                window = None  # outside its windows: only the nodes already down count
                found["pending"] = []
                for wave in found["waves"].values():
                    wave["pending"] = []
        if not found["running"] and not found["pending"]:
            continue
        # Every campaign's nodes at a site share its budget (as the executor counts them).
        concurrency = max(w["concurrency"] for w in found["waves"].values())
        slots = max(concurrency - len(found["running"]), 0)
        # Unknown draws first: they may be the largest.
        pending = sorted(found["pending"], key=lambda w: (w is not None, -(w or 0)))
        down = found["running"] + pending[:slots]
        until = max(
            _estimate(w, w["concurrency"], now)
            for w in found["waves"].values()
            if w["running"] or w["pending"]
        )
        if window is not None:
            until = min(until, window[1])
        notices[site_id] = {
            "until": until,
            "dip_w": None if any(w is None for w in down) else sum(down),
        }
    out = {}
    for site_id, notice in notices.items():
        tz = by_id[site_id].tzinfo
        until = timezone.localtime(notice["until"], tz)
        out[site_id] = {
            "until": until,
            # Rounded up to 0.1 kW: "up to" must not understate, and a known dip is never 0.
            "max_dip_kw": None
            if notice["dip_w"] is None
            else math.ceil(notice["dip_w"] / 100) / 10,
            # Formatted here: a template's date filter would move it to the viewer's timezone.
            "until_label": date_format(until, "H:i")
            if until.date() == timezone.localtime(now, tz).date()
            else date_format(until, "D d M, H:i"),
        }
    return out


def site_maintenance_notice(site: Site, *, now: datetime | None = None) -> dict[str, Any] | None:
    """The notice of one site, or None when none of its nodes is in a wave."""
    return site_maintenance_notices([site], now=now).get(site.pk)
