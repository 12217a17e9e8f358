"""Maintenance windows are wall-clock times of the site: they keep their local hours across DST."""

from datetime import UTC, datetime, time

import pytest

from apps.firmware.campaign_windows import Window, window_next, window_open

PARIS = "Europe/Paris"
# Sunday 02:00-05:00 local, and a Saturday window across midnight
SUNDAY_NIGHT = Window(weekday=6, start=time(2, 0), end=time(5, 0))
SATURDAY_LATE = Window(weekday=5, start=time(22, 0), end=time(1, 0))


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_window_keeps_local_hours_in_winter_and_summer():
    # winter (UTC+1): 02:00 local is 01:00 UTC
    assert window_next([SUNDAY_NIGHT], PARIS, utc(2026, 1, 7)) == (
        utc(2026, 1, 11, 1),
        utc(2026, 1, 11, 4),
    )
    # summer (UTC+2): the same window is 00:00-03:00 UTC
    assert window_next([SUNDAY_NIGHT], PARIS, utc(2026, 7, 1)) == (
        utc(2026, 7, 5, 0),
        utc(2026, 7, 5, 3),
    )


def test_window_on_the_night_clocks_go_forward():
    # 29 March 2026, 02:00 local does not exist: the window opens at 03:00 CEST (01:00 UTC)
    # and still ends at 05:00 local, 03:00 UTC
    start, end = window_next([SUNDAY_NIGHT], PARIS, utc(2026, 3, 27))
    assert (start, end) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 3))
    assert not window_open([SUNDAY_NIGHT], PARIS, utc(2026, 3, 29, 0, 59))
    assert window_open([SUNDAY_NIGHT], PARIS, utc(2026, 3, 29, 2, 30))
    assert not window_open([SUNDAY_NIGHT], PARIS, utc(2026, 3, 29, 3, 0))


def test_window_on_the_night_clocks_go_back():
    # 25 October 2026: 02:00 CEST (00:00 UTC) to 05:00 CET (04:00 UTC): four real hours
    start, end = window_next([SUNDAY_NIGHT], PARIS, utc(2026, 10, 24))
    assert (start, end) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 4))
    assert window_open([SUNDAY_NIGHT], PARIS, utc(2026, 10, 25, 3, 30))


def test_window_across_midnight_and_several_windows():
    windows = [SUNDAY_NIGHT, SATURDAY_LATE]
    # Saturday 23:30 local (22:30 UTC in winter) is in the Saturday window
    assert window_open(windows, PARIS, utc(2026, 1, 10, 22, 30))
    # Sunday 00:30 local: still the Saturday window (ends 01:00 local)
    assert window_open(windows, PARIS, utc(2026, 1, 10, 23, 30))
    # Sunday 01:30 local: between the two
    assert not window_open(windows, PARIS, utc(2026, 1, 11, 0, 30))
    assert window_next(windows, PARIS, utc(2026, 1, 11, 0, 30))[0] == utc(2026, 1, 11, 1)


def test_site_without_windows_is_not_restricted():
    assert window_open([], PARIS, utc(2026, 5, 5, 12))
    assert window_next([], PARIS, utc(2026, 5, 5, 12)) is None


def test_windows_are_local_to_each_site():
    # Sunday 02:00 in New York is 07:00 UTC in winter
    assert window_next([SUNDAY_NIGHT], "America/New_York", utc(2026, 1, 7))[0] == utc(
        2026, 1, 11, 7
    )


@pytest.mark.django_db
def test_stored_windows_are_read_in_the_sites_local_time(site):
    from apps.firmware.campaign_inputs import site_windows
    from apps.firmware.models import MaintenanceWindow

    site.timezone = "Europe/Paris"
    site.save()
    MaintenanceWindow.objects.create(site=site, weekday=6, start=time(2), end=time(5))
    windows = site_windows(site_ids=[site.pk])[site.pk]
    # the same stored row opens at 01:00 UTC in winter and 00:00 UTC in summer
    assert window_next(windows, site.timezone, utc(2026, 1, 7))[0] == utc(2026, 1, 11, 1)
    assert window_next(windows, site.timezone, utc(2026, 7, 1))[0] == utc(2026, 7, 5, 0)
    assert window_open(windows, site.timezone, utc(2026, 7, 5, 2, 59))
    assert not window_open(windows, site.timezone, utc(2026, 7, 5, 3, 0))
