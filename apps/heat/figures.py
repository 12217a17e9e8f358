"""Plotly figures and page figures for heat, built by pure functions (no database, no request).

Charts show times as the site's *local wall-clock time* over the window they stand for
(``apps.core.charts``); the live script (static/js/heat.js) converts pushed UTC timestamps the
same way. Missing data stays missing: ``None`` values become JSON ``null`` and plotly breaks
the line.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _

from apps.core.charts import local_x, time_axis
from apps.core.l10n import compact, number, signed

from .selectors import HeatQueryError, Resolution

# Chart windows offered on the site page: how far back from now, and which storage serves it.
# "live" reads raw readings (and is the only window extended by websocket events); the zoomed
# out windows read the hourly and daily rollups.
WINDOWS: dict[str, tuple[timedelta, Resolution, str]] = {
    "live": (timedelta(hours=6), "raw", gettext_lazy("Last 6 hours")),
    "day": (timedelta(days=1), "hour", gettext_lazy("Last 24 hours")),
    "week": (timedelta(days=7), "hour", gettext_lazy("Last 7 days")),
    "month": (timedelta(days=31), "hour", gettext_lazy("Last 31 days")),
    "year": (timedelta(days=366), "day", gettext_lazy("Last 12 months")),
}
# Raw readings kept in the live chart before the oldest are dropped (6 h of 10 s readings).
LIVE_MAX_POINTS = 2200
MWH_FROM_KWH = 1000.0
# Vertical shares of the chart: thermal power above, temperatures below, never overlaid (a
# kW scale and a °C scale on one plot put the power line under the supply line).
POWER_DOMAIN = [0.58, 1.0]
TEMPERATURE_DOMAIN = [0.0, 0.46]


def window_range(window: str, now: datetime) -> tuple[datetime, datetime, Resolution]:
    """``(start, end, resolution)`` of a named chart window ending at ``now``."""
    if window not in WINDOWS:
        raise HeatQueryError(
            gettext("unknown window %(window)r: use %(choices)s")
            % {"window": window, "choices": ", ".join(WINDOWS)}
        )
    if now.tzinfo is None:
        raise HeatQueryError("now must carry a time zone")
    span, resolution, _ = WINDOWS[window]
    return now - span, now, resolution


def _column(points: Sequence[Mapping[str, Any]], key: str) -> list[float | None]:
    return [None if p.get(key) is None else round(float(p[key]), 3) for p in points]


def heat_figure(
    points: Sequence[Mapping[str, Any]],
    *,
    resolution: Resolution,
    tz: zoneinfo.ZoneInfo,
    contract_min_c: float,
    window: str = "live",
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[str, Any]:
    """Thermal power in its own panel above supply and return temperature, sharing the time axis.

    ``points`` are ``selectors.site_series`` points: raw readings (``power_kw``, ``supply_c``,
    ``return_c``) or rollup buckets (``power_kw``, ``supply_avg_c``, ``return_avg_c``). The
    contracted minimum supply temperature is a dashed horizontal line on the temperature axis.
    ``start``/``end`` are the window drawn (the axis spans it whatever the data covers).
    Trace order is fixed (power, supply, return): the live script extends traces by index.
    """
    raw = resolution == "raw"
    supply_key, return_key = ("supply_c", "return_c") if raw else ("supply_avg_c", "return_avg_c")
    x = [local_x(p["ts"], tz) for p in points]
    mode = "lines" if raw else "lines+markers"
    if raw:
        names = (_("Thermal power (kW)"), _("Supply (°C)"), _("Return (°C)"))
    elif resolution == "hour":
        names = (
            _("Thermal power (hourly mean) (kW)"),
            _("Supply (hourly mean) (°C)"),
            _("Return (hourly mean) (°C)"),
        )
    else:
        names = (
            _("Thermal power (daily mean) (kW)"),
            _("Supply (daily mean) (°C)"),
            _("Return (daily mean) (°C)"),
        )
    data = [
        {"x": x, "y": _column(points, "power_kw"), "name": names[0],
         "type": "scatter", "mode": mode, "line": {"color": "#d9480f", "width": 2.5}},
        {"x": list(x), "y": _column(points, supply_key), "name": names[1],
         "type": "scatter", "mode": mode, "yaxis": "y2", "line": {"color": "#c92a2a"}},
        {"x": list(x), "y": _column(points, return_key), "name": names[2],
         "type": "scatter", "mode": mode, "yaxis": "y2", "line": {"color": "#1971c2"}},
    ]  # fmt: skip
    contract = float(contract_min_c)
    layout = {
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
        "legend": {"orientation": "h", "y": -0.22},
        # One time axis, drawn under the lower panel; both panels follow its zoom.
        "xaxis": time_axis([p["ts"] for p in points], tz, start=start, end=end, anchor="y2"),
        "yaxis": {"title": {"text": _("Thermal power (kW)")}, "domain": POWER_DOMAIN,
                  "rangemode": "tozero"},
        "yaxis2": {"title": {"text": _("Temperature (°C)")}, "domain": TEMPERATURE_DOMAIN,
                   "anchor": "x"},
        "shapes": [
            {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y2", "y0": contract,
             "y1": contract, "line": {"color": "#c92a2a", "dash": "dash", "width": 1}},
        ],
        "annotations": [
            {"xref": "paper", "x": 0, "xanchor": "left", "yref": "y2", "y": contract,
             "yanchor": "bottom", "showarrow": False, "font": {"size": 11, "color": "#c92a2a"},
             "text": _("contract minimum %(temperature)s °C")
                     % {"temperature": compact(contract)}},
        ],
        "uirevision": window,
    }  # fmt: skip
    return {
        "data": data,
        "layout": layout,
        "meta": {
            "window": window,
            "resolution": resolution,
            "live": raw,
            "timezone": tz.key,
            "contract_min_c": contract,
            "max_points": LIVE_MAX_POINTS,
        },
    }


def energy_text(kwh: float | None) -> str:
    """Heat as people read it: kWh_th below 1 MWh, MWh_th above (None: no data)."""
    if kwh is None:
        return "—"
    if abs(kwh) < MWH_FROM_KWH:
        return f"{number(kwh, 1)} kWh_th"
    return f"{number(kwh / MWH_FROM_KWH, 2)} MWh_th"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{number(value * 100, 1)} %"


def _hours(value: float | None) -> str:
    return "—" if value is None else f"{number(value, 1)} h"


def _change(this: float | None, last: float | None) -> str:
    if this is None or last is None or last == 0:
        return "—"
    return f"{signed((this - last) / last * 100, 1)} %"


def _period_kwh(period: Mapping[str, Any] | None) -> float | None:
    # A period without a single reading has no energy figure, which is not "0 kWh".
    if not period or (not period["coverage"] and not period["energy_kwh"]):
        return None
    return float(period["energy_kwh"])


def summary_rows(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """Rows of the partner summary: today, this month, this year against the same spans last
    year (from ``selectors.site_heat_summary``), formatted for display."""
    rows = []
    periods = (("today", _("Today")), ("month", _("This month")), ("year", _("This year")))
    for key, label in periods:
        this, last = summary.get(key), summary.get(f"{key}_last_year")
        this_kwh, last_kwh = _period_kwh(this), _period_kwh(last)
        rows.append(
            {
                "key": key,
                "label": label,
                "energy": energy_text(this_kwh),
                "last_year": energy_text(last_kwh),
                "change": _change(this_kwh, last_kwh),
                "coverage": _percent(this["coverage"] if this else None),
                "hours_ok": _hours(this["hours_at_or_above"] if this else None),
                "hours_below": _hours(this["hours_below"] if this else None),
                "availability": _percent(this["availability"] if this else None),
            }
        )
    return rows


def current_values(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the site's meters say now: power summed over the meters that read, temperatures and
    flow of the first of them; ``supply_ok`` against the contract (None when unknown)."""
    reading = [c for c in summary.get("current", []) if c["status"] == "ok" and c["at"]]
    if not reading:
        return {"power_kw": None, "supply_c": None, "return_c": None, "flow_m3h": None,
                "at": None, "supply_ok": None}  # fmt: skip
    first = reading[0]
    return {
        "power_kw": sum(c["power_kw"] or 0.0 for c in reading),
        "supply_c": first["supply_c"],
        "return_c": first["return_c"],
        "flow_m3h": sum(c["flow_m3h"] or 0.0 for c in reading),
        "at": max(c["at"] for c in reading),
        "supply_ok": all(c["supply_ok"] for c in reading),
    }


def month_options(first: datetime | None, now: datetime, tz: zoneinfo.ZoneInfo) -> list[str]:
    """``YYYY-MM`` of every local month from ``first`` (first reading) to ``now``, newest first."""
    if first is None:
        return []
    a, b = first.astimezone(tz), now.astimezone(tz)
    months = []
    year, month = a.year, a.month
    while (year, month) <= (b.year, b.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months[::-1]


def points_json(points: Iterable[Mapping[str, Any]], tz: zoneinfo.ZoneInfo) -> list[dict]:
    """Series points for the API: timestamps as local ISO 8601 with offset."""
    return [{**p, "ts": p["ts"].astimezone(tz).isoformat()} for p in points]
