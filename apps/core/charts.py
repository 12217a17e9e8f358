"""Time axes of the plotly charts, shared by every figure builder (pure functions).

plotly.js has no time zones: it draws a date string as written and drops any offset, so an
ISO timestamp in UTC is drawn in UTC. Every chart therefore gets naive *local wall-clock*
strings (the site's zone) from the server, and the live scripts convert pushed UTC timestamps
the same way (``HeatsiteCharts.localX`` in static/js/charts.js).

Left to itself plotly zooms a single point to a millisecond-wide axis ("00:32:03.0135"): time
axes carry an explicit range, the window the chart stands for.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

# Narrowest axis drawn when the chart has no window of its own and the data covers less.
MIN_SPAN = timedelta(hours=1)


def local_x(ts: datetime, tz: zoneinfo.ZoneInfo) -> str:
    """A plotly x value: the local wall-clock time of ``ts``, without offset."""
    return ts.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def x_range(
    times: Sequence[datetime],
    tz: zoneinfo.ZoneInfo,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    min_span: timedelta = MIN_SPAN,
) -> list[str] | None:
    """The x range of a time chart, as local strings.

    The requested window ``[start, end]`` when the chart has one (the last 6 hours show 6 hours
    even if the data starts later); otherwise the data's extent, widened to ``min_span`` ending
    at the newest point when the data covers less; ``None`` (plotly's autorange) with neither.
    """
    if start is not None and end is not None:
        return [local_x(start, tz), local_x(end, tz)]
    if not times:
        return None
    first, last = min(times), max(times)
    return [local_x(min(first, last - min_span), tz), local_x(last, tz)]


def time_axis(
    times: Sequence[datetime],
    tz: zoneinfo.ZoneInfo,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A plotly date x axis in local time, titled with the zone, with its range fixed."""
    axis: dict[str, Any] = {"type": "date", "title": {"text": f"Local time ({tz.key})"}}
    rng = x_range(times, tz, start=start, end=end)
    if rng is not None:
        axis["range"] = rng
        axis["autorange"] = False
    return {**axis, **extra}
