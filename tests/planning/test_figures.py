"""The planners' series chart (pure builder, no database): days on a day axis."""

from datetime import date, timedelta

from apps.planning.figures import DAY_MS, series_figure
from apps.planning.selectors import Period


def test_a_one_day_series_shows_its_day_not_hours_or_milliseconds():
    period = Period(date(2026, 3, 29), date(2026, 3, 30))  # the day Paris changes its clocks
    fig = series_figure({1: [(date(2026, 3, 29), 812.5)]}, {1: "PAR-1"}, "heat_mwh", period)
    xaxis = fig["layout"]["xaxis"]
    assert xaxis["range"] == ["2026-03-28 12:00", "2026-03-29 12:00"]  # the day, centred
    assert xaxis["autorange"] is False
    assert (xaxis["tick0"], xaxis["dtick"]) == ("2026-03-29", DAY_MS)  # one tick, on the day
    assert fig["data"][0]["x"] == ["2026-03-29"]


def test_an_empty_series_still_spans_the_requested_period():
    period = Period(date(2026, 1, 1), date(2026, 2, 1))
    fig = series_figure({}, {}, "heat_mwh", period)
    assert fig["data"] == []
    assert fig["layout"]["xaxis"]["range"] == ["2025-12-31 12:00", "2026-01-31 12:00"]
    assert "dtick" not in fig["layout"]["xaxis"]  # a month: plotly picks its day/week ticks


def test_a_gap_day_stays_a_gap():
    period = Period(date(2026, 1, 1), date(2026, 1, 4))
    days = [(period.start + timedelta(days=i), v) for i, v in enumerate([1.0, None, 3.0])]
    fig = series_figure({7: days}, {7: "LYO-7"}, "heat_mwh", period)
    assert fig["data"][0]["y"] == [1.0, None, 3.0] and fig["data"][0]["connectgaps"] is False
