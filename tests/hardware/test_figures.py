"""The node page's sensor chart (pure builder, no database)."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest

from apps.hardware.figures import SENSOR_WINDOW, sensor_figure

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def history(*times, power=350.0):
    n = len(times)
    return {"at": list(times), "power_w": [power] * n, "cpu_temp_c": [71.04] * n,
            "water_in_c": [40.0] * n, "water_out_c": [None] * n}  # fmt: skip


def test_sensor_times_are_the_sites_local_time_not_utc():
    # The newcomer's node page said 00:32 (UTC) beside pages saying 01:32 (Paris).
    end = datetime(2026, 1, 15, 0, 32, 3, tzinfo=UTC)
    fig = sensor_figure(history(end), tz=PARIS, start=end - SENSOR_WINDOW, end=end)
    assert all(t["x"] == ["2026-01-15 01:32:03"] for t in fig["data"])
    assert fig["layout"]["xaxis"]["title"]["text"] == "Local time (Europe/Paris)"


def test_sensor_times_follow_the_summer_time_change():
    # 2026-10-25 01:00 UTC: Paris goes back from 03:00 CEST to 02:00 CET.
    times = [datetime(2026, 10, 25, 0, 50, tzinfo=UTC), datetime(2026, 10, 25, 1, 10, tzinfo=UTC)]
    end = times[-1] + timedelta(minutes=1)
    fig = sensor_figure(history(*times), tz=PARIS, start=end - SENSOR_WINDOW, end=end)
    assert fig["data"][0]["x"] == ["2026-10-25 02:50:00", "2026-10-25 02:10:00"]


@pytest.mark.parametrize("count", [0, 1])
def test_the_axis_spans_the_whole_window_with_no_or_one_reading(count):
    end = datetime(2026, 1, 15, 0, 32, 3, 13500, tzinfo=UTC)
    fig = sensor_figure(history(*[end][:count]), tz=PARIS, start=end - SENSOR_WINDOW, end=end)
    xaxis = fig["layout"]["xaxis"]
    assert xaxis["range"] == ["2026-01-14 19:32:03", "2026-01-15 01:32:03"]
    assert xaxis["autorange"] is False
    assert fig["meta"] == {"timezone": "Europe/Paris", "points": count}
    if count:  # a lone point is drawn as a marker (a line needs two)
        assert all("markers" in t["mode"] for t in fig["data"])


def test_power_has_its_own_panel_above_the_temperatures():
    end = datetime(2026, 1, 15, tzinfo=UTC)
    fig = sensor_figure(history(end), tz=PARIS, start=end - SENSOR_WINDOW, end=end)
    power, *temperatures = fig["data"]
    assert power["name"] == "Power (W)" and power["y"] == [350.0]
    assert "yaxis" not in power and {t["yaxis"] for t in temperatures} == {"y2"}
    assert [t["y"] for t in temperatures] == [[71.04], [40.0], [None]]  # unknown stays null
    layout = fig["layout"]
    assert layout["yaxis2"]["domain"][1] < layout["yaxis"]["domain"][0]
    assert "overlaying" not in layout["yaxis2"] and layout["xaxis"]["anchor"] == "y2"
