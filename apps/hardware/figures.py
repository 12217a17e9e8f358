"""The node page's sensor chart, built by a pure function (no database, no request).

Times are the site's local wall-clock time over the window the chart stands for
(``apps.core.charts``): the node page and the site charts say the same time.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.core.charts import local_x, time_axis

# The window of sensor history the node page draws.
SENSOR_WINDOW = timedelta(hours=6)
# Power above, temperatures below: watts and °C on one plot hide each other.
POWER_DOMAIN = [0.58, 1.0]
TEMPERATURE_DOMAIN = [0.0, 0.46]
# (column of ``selectors.node_history``, legend, colour); power first: the live script extends
# trace 0 with the power pushed in ``node.state`` events.
_TEMPERATURES = (
    ("cpu_temp_c", gettext_noop("CPU (°C)"), "#e8590c"),
    ("water_in_c", gettext_noop("Water in (°C)"), "#1971c2"),
    ("water_out_c", gettext_noop("Water out (°C)"), "#c92a2a"),
)


def _values(column: Sequence[float | None]) -> list[float | None]:
    return [None if v is None else round(float(v), 2) for v in column]


def sensor_figure(
    history: Mapping[str, Sequence[Any]],
    *,
    tz: zoneinfo.ZoneInfo,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """Power draw (W) in its own panel above the CPU and water temperatures, from
    ``selectors.node_history`` columns (``at`` aware datetimes, oldest first)."""
    at: list[datetime] = list(history.get("at", []))
    x = [local_x(t, tz) for t in at]
    data = [
        {
            "x": x,
            "y": _values(history.get("power_w", [])),
            "name": _("Power (W)"),
            "type": "scatter",
            "mode": "lines+markers" if len(x) < 2 else "lines",
            "line": {"color": "#495057", "width": 2.5},
        }
    ]
    for key, name, colour in _TEMPERATURES:
        data.append(
            {
                "x": list(x),
                "y": _values(history.get(key, [])),
                "name": _(name),
                "type": "scatter",
                "mode": "lines+markers" if len(x) < 2 else "lines",
                "yaxis": "y2",
                "line": {"color": colour},
            }
        )
    layout = {
        "margin": {"l": 60, "r": 20, "t": 30, "b": 40},
        "legend": {"orientation": "h", "y": -0.25},
        "xaxis": time_axis(at, tz, start=start, end=end, anchor="y2"),
        "yaxis": {"title": {"text": _("Power (W)")}, "domain": POWER_DOMAIN, "rangemode": "tozero"},
        "yaxis2": {"title": {"text": "°C"}, "domain": TEMPERATURE_DOMAIN, "anchor": "x"},
        "uirevision": "sensors",
    }
    return {"data": data, "layout": layout, "meta": {"timezone": tz.key, "points": len(x)}}
