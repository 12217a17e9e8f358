"""Maintenance windows in a site's local time: is one open now, and when does the next open.

Windows are weekly wall-clock times of the site's timezone (`MaintenanceWindow`), so 02:00-05:00
stays 02:00-05:00 local on both sides of a DST change (its UTC hours move). Local times that do
not exist (the spring-forward gap) or exist twice (fall back) are resolved by `zoneinfo`'s fold
rules: a window starting in the gap starts at the first instant after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Window:
    weekday: int  # 0 = Monday (local)
    start: time
    end: time  # <= start: ends the next day


def _local(day: datetime, at: time, tz: ZoneInfo) -> datetime:
    naive = datetime.combine(day.date(), at)
    aware = naive.replace(tzinfo=tz)
    # In the spring-forward gap the wall time does not exist: round trip through UTC moves it
    # to the first real instant after the gap.
    return aware.astimezone(UTC).astimezone(tz) if aware.utcoffset() is not None else aware


def _spans(window: Window, tz: ZoneInfo, around: datetime) -> Iterable[tuple[datetime, datetime]]:
    """The window's occurrences (UTC) starting in the local weeks around ``around``."""
    local = around.astimezone(tz)
    monday = local - timedelta(days=local.weekday())
    for week in (-1, 0, 1):
        day = monday + timedelta(days=7 * week + window.weekday)
        start = _local(day, window.start, tz)
        end_day = day if window.end > window.start else day + timedelta(days=1)
        end = _local(end_day, window.end, tz)
        yield start.astimezone(UTC), end.astimezone(UTC)


def window_open(windows: Iterable[Window], tz_name: str, at: datetime) -> bool:
    """True when ``at`` (aware) falls in one of the windows; no windows: always open."""
    windows = list(windows)
    if not windows:
        return True
    tz = ZoneInfo(tz_name)
    return any(start <= at < end for w in windows for start, end in _spans(w, tz, at))


def window_next(
    windows: Iterable[Window], tz_name: str, after: datetime
) -> tuple[datetime, datetime] | None:
    """The (start, end) in UTC of the window open at ``after`` or opening next; None when the
    site has no windows (not restricted)."""
    tz = ZoneInfo(tz_name)
    spans = sorted(
        (start, end) for w in windows for start, end in _spans(w, tz, after) if end > after
    )
    return spans[0] if spans else None
