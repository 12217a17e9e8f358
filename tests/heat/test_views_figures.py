"""The pure figure builders behind the heat pages (no database)."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest

from apps.heat import figures
from apps.heat.selectors import HeatQueryError

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def test_heat_figure_draws_local_wall_clock_times_across_the_dst_change():
    # 2026-03-29 01:00 UTC is 02:00 CET -> 03:00 CEST: the local clock jumps an hour.
    points = [
        {"ts": datetime(2026, 3, 29, 0, 50, tzinfo=UTC), "power_kw": 50.0, "supply_c": 70.0,
         "return_c": 40.0},
        {"ts": datetime(2026, 3, 29, 1, 0, tzinfo=UTC), "power_kw": None, "supply_c": None,
         "return_c": None},
        {"ts": datetime(2026, 3, 29, 1, 10, tzinfo=UTC), "power_kw": 51.25, "supply_c": 64.0,
         "return_c": 41.0},
    ]  # fmt: skip
    fig = figures.heat_figure(points, resolution="raw", tz=PARIS, contract_min_c=65)
    power, supply, ret = fig["data"]
    assert power["x"] == ["2026-03-29 01:50:00", "2026-03-29 03:00:00", "2026-03-29 03:10:00"]
    assert power["y"] == [50.0, None, 51.25]  # the gap stays a gap: null, not 0
    assert supply["y"] == [70.0, None, 64.0] and supply["yaxis"] == "y2"
    assert ret["y"] == [40.0, None, 41.0]
    [line] = fig["layout"]["shapes"]
    assert (line["yref"], line["y0"], line["y1"]) == ("y2", 65.0, 65.0)
    assert fig["meta"] == {"window": "live", "resolution": "raw", "live": True,
                           "timezone": "Europe/Paris", "contract_min_c": 65.0,
                           "max_points": figures.LIVE_MAX_POINTS}  # fmt: skip


def test_thermal_power_has_its_own_panel_above_the_temperatures():
    # ~4.3 kW and 70 °C once drew on one spot: the power line hid under the supply line.
    points = [{"ts": datetime(2026, 1, 15, 12, tzinfo=UTC), "power_kw": 4.3, "supply_c": 70.0,
               "return_c": 40.0}]  # fmt: skip
    fig = figures.heat_figure(points, resolution="raw", tz=PARIS, contract_min_c=65)
    power, supply, ret = fig["data"]
    assert power.get("yaxis", "y") == "y" and supply["yaxis"] == ret["yaxis"] == "y2"
    layout = fig["layout"]
    assert "overlaying" not in layout["yaxis"] and "overlaying" not in layout["yaxis2"]
    (p0, p1), (t0, t1) = layout["yaxis"]["domain"], layout["yaxis2"]["domain"]
    assert t1 < p0  # temperatures below, a gap between, power above: never drawn on each other
    assert (p1, t0) == (1.0, 0.0)
    # one shared time axis, drawn under the lower panel
    assert layout["xaxis"]["anchor"] == "y2" and layout["yaxis2"]["anchor"] == "x"
    assert "xaxis2" not in layout and all("xaxis" not in t for t in fig["data"])
    assert layout["yaxis"]["title"]["text"] == "Thermal power (kW)"


def test_the_time_axis_spans_the_window_in_local_time_across_the_dst_change():
    # Paris goes from CET to CEST at 01:00 UTC: a 6 h window ending 05:00 UTC is 00:00 -> 07:00.
    end = datetime(2026, 3, 29, 5, tzinfo=UTC)
    start, end, _ = figures.window_range("live", end)
    points = [{"ts": datetime(2026, 3, 29, 4, 59, 50, tzinfo=UTC), "power_kw": 4.3,
               "supply_c": 70.0, "return_c": 40.0}]  # fmt: skip
    fig = figures.heat_figure(
        points, resolution="raw", tz=PARIS, contract_min_c=65, start=start, end=end
    )
    assert fig["data"][0]["x"] == ["2026-03-29 06:59:50"]  # CEST, not the UTC 04:59:50
    xaxis = fig["layout"]["xaxis"]
    assert xaxis["range"] == ["2026-03-29 00:00:00", "2026-03-29 07:00:00"]
    assert xaxis["autorange"] is False and xaxis["type"] == "date"
    assert xaxis["title"]["text"] == "Local time (Europe/Paris)"


@pytest.mark.parametrize("count", [0, 1])
def test_a_window_with_almost_no_readings_still_spans_the_whole_window(count):
    # Plotly zooms a lone point to a millisecond-wide axis (00:32:03.0135) unless told the range.
    now = datetime(2026, 1, 15, 23, 32, 3, 13500, tzinfo=UTC)
    start, end, resolution = figures.window_range("live", now)
    points = [{"ts": now - timedelta(seconds=5), "power_kw": 4.3, "supply_c": 70.0,
               "return_c": 40.0}][:count]  # fmt: skip
    fig = figures.heat_figure(
        points, resolution=resolution, tz=PARIS, contract_min_c=65, start=start, end=end
    )
    assert fig["layout"]["xaxis"]["range"] == ["2026-01-15 18:32:03", "2026-01-16 00:32:03"]
    assert [len(t["x"]) for t in fig["data"]] == [count] * 3


def test_without_a_window_one_reading_gets_an_hour_of_axis_not_a_millisecond():
    ts = datetime(2026, 7, 1, 22, 32, 3, tzinfo=UTC)
    point = {"ts": ts, "power_kw": 4.3, "supply_c": 70.0, "return_c": 40.0}
    fig = figures.heat_figure([point], resolution="raw", tz=PARIS, contract_min_c=65)
    assert fig["layout"]["xaxis"]["range"] == ["2026-07-01 23:32:03", "2026-07-02 00:32:03"]
    empty = figures.heat_figure([], resolution="raw", tz=PARIS, contract_min_c=65)
    assert "range" not in empty["layout"]["xaxis"]  # nothing to place: plotly's own default


def test_rollup_figure_plots_bucket_means_and_is_not_live():
    points = [{"ts": datetime(2026, 1, 1, 23, tzinfo=UTC), "power_kw": 48.0,
               "supply_avg_c": 68.5, "return_avg_c": 39.5}]  # fmt: skip
    fig = figures.heat_figure(points, resolution="day", tz=PARIS, contract_min_c=60, window="year")
    assert fig["data"][0]["x"] == ["2026-01-02 00:00:00"]  # the local day it stands for
    assert [t["y"] for t in fig["data"]] == [[48.0], [68.5], [39.5]]
    assert "daily mean" in fig["data"][1]["name"]
    assert fig["meta"]["live"] is False


@pytest.mark.parametrize(
    ("window", "span", "resolution"),
    [("live", timedelta(hours=6), "raw"), ("week", timedelta(days=7), "hour"),
     ("year", timedelta(days=366), "day")],
)  # fmt: skip
def test_window_range_ends_now_and_picks_the_storage(window, span, resolution):
    now = datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert figures.window_range(window, now) == (now - span, now, resolution)


@pytest.mark.parametrize(
    ("window", "now", "reason"),
    [("decade", datetime(2026, 5, 1, tzinfo=UTC), "unknown window"),
     ("day", datetime(2026, 5, 1), "time zone")],
)  # fmt: skip
def test_window_range_refuses_unknown_windows_and_naive_times(window, now, reason):
    with pytest.raises(HeatQueryError, match=reason):
        figures.window_range(window, now)


@pytest.mark.parametrize(
    ("kwh", "text"),
    [(None, "—"), (0.0, "0.0 kWh_th"), (999.94, "999.9 kWh_th"), (1000.0, "1.00 MWh_th"),
     (123456.0, "123.46 MWh_th")],
)  # fmt: skip
def test_energy_text_switches_to_mwh_at_one_mwh(kwh, text):
    assert figures.energy_text(kwh) == text


def period(kwh, coverage=1.0, ok=10.0, below=0.0, availability=1.0):
    return {"energy_kwh": kwh, "coverage": coverage, "hours_at_or_above": ok,
            "hours_below": below, "availability": availability}  # fmt: skip


def test_summary_rows_compare_with_last_year_and_show_missing_periods_as_no_data():
    summary = {
        "today": period(120.0, ok=7.5, below=2.5, availability=0.75),
        "today_last_year": period(0.0, coverage=0.0, ok=0.0, availability=None),
        "month": period(2400.0),
        "month_last_year": period(2000.0),
        "year": None,
        "year_last_year": None,
    }
    today, month, year = figures.summary_rows(summary)
    assert (today["energy"], today["last_year"], today["change"]) == ("120.0 kWh_th", "—", "—")
    assert (today["hours_ok"], today["hours_below"], today["availability"]) == (
        "7.5 h", "2.5 h", "75.0 %")  # fmt: skip
    assert (month["energy"], month["last_year"], month["change"]) == (
        "2.40 MWh_th", "2.00 MWh_th", "+20.0 %")  # fmt: skip
    assert year["energy"] == "—" and year["availability"] == "—"


def test_current_values_sum_reading_meters_and_ignore_offline_ones():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    meter = {"status": "ok", "at": at, "power_kw": 30.0, "supply_c": 66.0, "return_c": 40.0,
             "flow_m3h": 1.0, "supply_ok": True}  # fmt: skip
    offline = {**meter, "status": "offline", "power_kw": 99.0, "supply_ok": False}
    current = figures.current_values({"current": [meter, {**meter, "power_kw": 12.5}, offline]})
    assert current["power_kw"] == 42.5 and current["flow_m3h"] == 2.0
    assert current["supply_ok"] is True and current["at"] == at
    assert figures.current_values({"current": [offline]})["power_kw"] is None


def test_month_options_run_from_the_first_reading_to_now_newest_first():
    first = datetime(2025, 11, 30, 23, 30, tzinfo=UTC)  # already 1 December in Paris
    now = datetime(2026, 2, 3, tzinfo=UTC)
    assert figures.month_options(first, now, PARIS) == ["2026-02", "2026-01", "2025-12"]
    assert figures.month_options(None, now, PARIS) == []
