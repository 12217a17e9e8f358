"""Plotly figures and the CSV of a comparison, built by pure functions (no database, no request).

Missing figures stay missing (JSON ``null``): a bar is absent, a marker is grey, a line breaks.
The map is a ``scattergeo`` on plotly's own topojson, served from our static files (the page
sets ``topojsonURL``), so it draws offline. PNG and SVG exports are plotly's modebar tools.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils.translation import gettext, gettext_noop

from apps.core.l10n import CSV_DIALECTS, CsvDialect, number

from .selectors import (
    COLUMN_BY_KEY,
    COLUMNS,
    NUMERIC_KEYS,
    SERIES_METRICS,
    CompareError,
    Period,
    SiteFigures,
)

BAR_LIMIT = 60
# Series axes tick every day up to this many days (plotly would tick hours on a short period).
DAY_TICKS_UP_TO = 14
DAY_MS = 86_400_000
CHARTS = ("bar", "map", "scatter", "series")
CSV_FIELDS = (
    "id",
    "code",
    "name",
    "partner",
    "heat_network",
    "region",
    "status",
    "timezone",
    *(c.key for c in COLUMNS),
    "heat_power_mwh",
    "electrical_coverage_pct",
    "heat_previous_mwh",
    "contract_min_supply_c",
    "co2_factor_kg_per_mwh",
    "latitude",
    "longitude",
)
# Headings of the French CSV dialect (docs/decisions.md, 27) for the fields that are not table
# columns; the table's columns use their ``heading``. The ``en`` file keeps the field names.
_CSV_HEADINGS = {
    "period_start": gettext_noop("Period start"),
    "period_end_exclusive": gettext_noop("Period end (exclusive)"),
    "id": "ID",
    "code": gettext_noop("Site code"),
    "name": gettext_noop("Site"),
    "partner": gettext_noop("Partner"),
    "heat_network": gettext_noop("Heat network"),
    "region": gettext_noop("Region"),
    "status": gettext_noop("Status"),
    "timezone": gettext_noop("Time zone"),
    "heat_power_mwh": gettext_noop("Heat integrated from the meters' power (MWh_th)"),
    "electrical_coverage_pct": gettext_noop("Electrical data coverage (%)"),
    "heat_previous_mwh": gettext_noop("Heat delivered, previous period (MWh_th)"),
    "contract_min_supply_c": gettext_noop("Contracted minimum supply (°C)"),
    "co2_factor_kg_per_mwh": gettext_noop("CO₂ factor (kg/MWh)"),
    "latitude": gettext_noop("Latitude"),
    "longitude": gettext_noop("Longitude"),
}


def numeric_column(key: str) -> str:
    if key not in NUMERIC_KEYS:
        raise CompareError(
            gettext("unknown column %(key)r: use %(keys)s")
            % {"key": key, "keys": ", ".join(NUMERIC_KEYS)}
        )
    return key


def _round(value: Any, decimals: int = 3) -> Any:
    return round(value, decimals) if isinstance(value, float) else value


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "margin": {"l": 60, "r": 20, "t": 40,
            "b": 90}, "hovermode": "closest", **extra}  # fmt: skip


def bar_figure(rows: Sequence[SiteFigures], column: str, period: Period) -> dict[str, Any]:
    """Bars per site for one column, in the order given (the table's), first ``BAR_LIMIT``."""
    col = COLUMN_BY_KEY[numeric_column(column)]
    shown = [r for r in rows if getattr(r, column) is not None][:BAR_LIMIT]
    more = len(rows) - len(shown)
    title = f"{col.heading}, {period}" + (
        " "
        + gettext("(first %(shown)d sites of %(total)d)")
        % {"shown": len(shown), "total": len(rows)}
        if more
        else ""
    )
    return {
        "data": [
            {
                "type": "bar",
                "x": [r.code for r in shown],
                "y": [_round(getattr(r, column)) for r in shown],
                "customdata": [r.id for r in shown],
                "text": [r.name for r in shown],
                "hovertemplate": "%{x} %{text}<br>%{y}<extra></extra>",
                "marker": {"color": "#d9480f"},
            }
        ],
        "layout": _layout(
            title, xaxis={"type": "category"}, yaxis={"title": {"text": col.heading}}
        ),
    }


def _in_europe(rows: Sequence[SiteFigures]) -> bool:
    return all(-25 <= r.longitude <= 45 and 34 <= r.latitude <= 72 for r in rows)  # type: ignore[operator]


def map_figure(rows: Sequence[SiteFigures], column: str, period: Period) -> dict[str, Any]:
    """Sites on a map coloured by one column; sites without a value are grey."""
    col = COLUMN_BY_KEY[numeric_column(column)]
    placed = [r for r in rows if r.latitude is not None and r.longitude is not None]
    valued = [r for r in placed if getattr(r, column) is not None]
    blank = [r for r in placed if getattr(r, column) is None]
    europe = bool(placed) and _in_europe(placed)
    trace = {
        "type": "scattergeo",
        "lat": [r.latitude for r in valued],
        "lon": [r.longitude for r in valued],
        "text": [f"{r.code} {r.name}" for r in valued],
        "customdata": [r.id for r in valued],
        "name": col.label,
        "marker": {
            "color": [_round(getattr(r, column)) for r in valued],
            "colorscale": "YlOrRd",
            "colorbar": {"title": {"text": col.heading}},
            "size": 9,
            "line": {"width": 0.5, "color": "#333"},
        },
        "hovertemplate": "%{text}<br>%{marker.color}<extra></extra>",
    }
    data = [trace]
    if blank:
        data.append(
            {
                "type": "scattergeo",
                "lat": [r.latitude for r in blank],
                "lon": [r.longitude for r in blank],
                "text": [f"{r.code} {r.name}" for r in blank],
                "customdata": [r.id for r in blank],
                "name": "no data",
                "marker": {"color": "#adb5bd", "size": 7},
                "hovertemplate": "%{text}<br>no data<extra></extra>",
            }
        )
    geo = {
        "scope": "europe" if europe else "world",
        "resolution": 50 if europe else 110,
        "showcountries": True,
        "showland": True,
        "landcolor": "#f1f3f5",
        "countrycolor": "#adb5bd",
        "fitbounds": "locations" if placed else False,
    }
    return {
        "data": data,
        "layout": _layout(f"{col.heading}, {period}", geo=geo, showlegend=bool(blank), height=560),
    }


def scatter_figure(rows: Sequence[SiteFigures], period: Period) -> dict[str, Any]:
    """Heat recovery efficiency against average supply temperature, one marker per site."""
    shown = [r for r in rows if r.efficiency_pct is not None and r.supply_avg_c is not None]
    biggest = max((r.heat_mwh or 0.0 for r in shown), default=0.0) or 1.0
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": [_round(r.supply_avg_c) for r in shown],
                "y": [_round(r.efficiency_pct) for r in shown],
                "text": [f"{r.code} {r.name}" for r in shown],
                "customdata": [r.id for r in shown],
                "marker": {
                    "size": [6 + 24 * (r.heat_mwh or 0.0) / biggest for r in shown],
                    "color": [_round(r.contract_pct) for r in shown],
                    "colorscale": "RdYlGn",
                    "cmin": 0,
                    "cmax": 100,
                    "colorbar": {"title": {"text": gettext("At/above contract (%)")}},
                },
                "hovertemplate": "%{text}<br>%{x} °C, %{y} %<extra></extra>",
            }
        ],
        "layout": _layout(
            gettext("Efficiency vs supply temperature, %(period)s (size: heat delivered)")
            % {"period": period},
            xaxis={"title": {"text": gettext("Average supply (°C)")}},
            yaxis={"title": {"text": gettext("Heat recovery efficiency (%)")}},
        ),
    }


def _day_axis(period: Period) -> dict[str, Any]:
    """A date axis of the period's days, each point (a day at midnight) centred in half a day of
    margin, whatever the number of points: one day is never zoomed to hours."""
    first = datetime.combine(period.start, time()) - timedelta(hours=12)
    last = datetime.combine(period.end, time()) - timedelta(hours=12)
    axis: dict[str, Any] = {
        "type": "date",
        "range": [first.strftime("%Y-%m-%d %H:%M"), last.strftime("%Y-%m-%d %H:%M")],
        "autorange": False,
        "hoverformat": "%-d %b %Y",
    }
    if period.days <= DAY_TICKS_UP_TO:
        axis.update(tick0=period.start.isoformat(), dtick=DAY_MS)
    return axis


def series_figure(
    series: Mapping[int, Sequence[tuple[date, float | None]]],
    names: Mapping[int, str],
    metric: str,
    period: Period,
) -> dict[str, Any]:
    """Daily values of several sites overlaid, one line per site; gaps break the line."""
    if metric not in SERIES_METRICS:
        raise CompareError(
            gettext("unknown series metric %(metric)r: use %(metrics)s")
            % {"metric": metric, "metrics": ", ".join(SERIES_METRICS)}
        )
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": names.get(site_id, str(site_id)),
                "x": [d.isoformat() for d, _ in points],
                "y": [_round(v) for _, v in points],
                "connectgaps": False,
            }
            for site_id, points in series.items()
        ],
        "layout": _layout(
            f"{SERIES_METRICS[metric]}, {period} (site-local days)",
            xaxis=_day_axis(period),
            yaxis={"title": {"text": SERIES_METRICS[metric]}},
            legend={"orientation": "h"},
        ),
    }


def cell(row: SiteFigures, key: str) -> str:
    """A table cell as text: rounded to the column's decimals, an en dash when missing."""
    value = getattr(row, key)
    if value is None:
        return "–"
    col = COLUMN_BY_KEY.get(key)
    if col is None or not col.numeric:
        return str(value)
    return number(value, col.decimals)


def _csv_heading(field: str) -> str:
    column = COLUMN_BY_KEY.get(field)
    return column.heading if column else gettext(_CSV_HEADINGS.get(field, field))


def comparison_csv(
    rows: Sequence[SiteFigures], period: Period, dialect: CsvDialect = CSV_DIALECTS["en"]
) -> str:
    """The table as CSV: one row per site, raw numbers, empty when missing. ``en``: field names,
    dot decimals, ISO dates; ``fr``: French headings, ``;``, decimal comma, dd/mm/yyyy, BOM."""
    fields = ["period_start", "period_end_exclusive", *CSV_FIELDS]
    french = dialect.code != "en"
    day = (lambda d: d.strftime("%d/%m/%Y")) if french else (lambda d: d.isoformat())
    out = [[_csv_heading(f) for f in fields] if french else fields]
    for r in rows:
        values = [getattr(r, f) for f in CSV_FIELDS]
        out.append(
            [
                day(period.start),
                day(period.end),
                *(
                    ""
                    if v is None
                    else (dialect.figure(repr(round(v, 4))) if isinstance(v, float) else v)
                    for v in values
                ),
            ]
        )
    return dialect.write(out)
