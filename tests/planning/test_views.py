"""The comparison page, its charts, CSV, saved selections and API, through the test client."""

import csv
import io
import re

import pytest
from django.urls import reverse

from apps.planning.models import SiteSelection
from apps.sites.models import Site

pytestmark = pytest.mark.django_db
RANGE = {"start": "2026-03-02", "end": "2026-03-04"}


def codes(response):
    """Site codes of the table rows, in order."""
    return re.findall(r'data-testid="site-link">([\w-]+)<', response.content.decode())


@pytest.fixture
def planner_client(client, planner):
    client.force_login(planner)
    return client


def test_planner_sees_every_site_with_links_to_their_pages_and_no_controls(planner_client, fleet):
    response = planner_client.get(reverse("compare"), RANGE)
    assert response.status_code == 200
    assert sorted(codes(response)) == ["gre-0003", "hel-0004", "lyo-0001", "par-0002"]
    html = response.content.decode()
    assert f'href="{reverse("site-detail", args=[fleet["steady"].pk])}"' in html
    # read-only: no power, console or firmware action anywhere on the page
    for control in ("/power", "/console", "/firmware", "/refresh", "Power on", "Reset"):
        assert control not in html
    assert 'href="/compare/"' in html  # the navigation entry


def test_the_table_shows_rounded_figures_and_missing_ones_as_dashes(planner_client, fleet):
    response = planner_client.get(reverse("compare"), {**RANGE, "sites": fleet["steady"].pk})
    html = response.content.decode()
    assert codes(response) == ["lyo-0001"]
    for text in ("2.88", "70.0", "62.0", "99.7", "3.20", "measured", "90.0", "75.0", "25.4"):
        assert f">{text}<" in html, text
    assert ">–<" not in html
    replaced = planner_client.get(reverse("compare"), {**RANGE, "sites": fleet["replaced"].pk})
    assert ">–<" in replaced.content.decode()  # no electricity recorded


def test_sorting_by_a_column_orders_rows_with_missing_values_last(planner_client, fleet):
    up = planner_client.get(reverse("compare"), {**RANGE, "sort": "efficiency_pct", "dir": "asc"})
    down = planner_client.get(reverse("compare"), {**RANGE, "sort": "efficiency_pct"})
    assert codes(up) == ["lyo-0001", "par-0002", "gre-0003", "hel-0004"]
    assert codes(down) == ["par-0002", "lyo-0001", "gre-0003", "hel-0004"]
    assert 'aria-sort="ascending"' in up.content.decode()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "maintenance"}, ["gre-0003"]),
        ({"region": "Auvergne-Rhône-Alpes"}, ["gre-0003", "lyo-0001"]),
        ({"heat_network": "Réseau Lyon"}, ["gre-0003", "lyo-0001"]),
        ({"sort": "code", "dir": "asc"}, ["gre-0003", "hel-0004", "lyo-0001", "par-0002"]),
    ],
)
def test_filters_narrow_the_sites(planner_client, fleet, params, expected):
    response = planner_client.get(reverse("compare"), {**RANGE, "sort": "code", "dir": "asc",
                                                       **params})  # fmt: skip
    assert codes(response) == expected


def test_partner_filter_and_hand_picked_sites(planner_client, fleet):
    nord = fleet["empty"].partner
    by_partner = planner_client.get(reverse("compare"), {**RANGE, "partner": nord.pk})
    assert codes(by_partner) == ["hel-0004"]
    ids = f"{fleet['gappy'].pk},{fleet['replaced'].pk}"
    picked = planner_client.get(reverse("compare"), {**RANGE, "sites": ids, "sort": "code",
                                                     "dir": "asc"})  # fmt: skip
    assert codes(picked) == ["gre-0003", "par-0002"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"period": "custom", "start": "2026-03-04", "end": "2026-03-02"}, "must be after start"),
        ({"period": "custom", "start": "2026-03-04"}, "both start and end are required"),
        ({"period": "month", "month": "2026-13"}, "impossible month"),
        ({"sites": "1;DROP"}, "site ids"),
        ({"sort": "password"}, "sort"),
        ({"partner": "999999"}, "partner"),
    ],
)
def test_bad_queries_are_a_400_with_the_reason(planner_client, fleet, params, reason):
    response = planner_client.get(reverse("compare"), params)
    assert response.status_code == 400
    assert reason in response.content.decode()


def test_an_unknown_site_id_is_a_404(planner_client, fleet):
    response = planner_client.get(reverse("compare"), {**RANGE, "sites": "999999"})
    assert response.status_code == 404


def test_a_saved_selection_is_shared_by_url_with_another_planner(
    planner_client, fleet, admin_user, client
):
    ticked = [fleet["steady"].pk, fleet["empty"].pk]
    response = planner_client.post(
        reverse("compare-selection-save"), {"name": "North vs Lyon", "sites": ticked, **RANGE,
                                            "period": "custom"},
    )  # fmt: skip
    selection = SiteSelection.objects.get()
    assert selection.name == "North vs Lyon"
    assert sorted(selection.sites.values_list("pk", flat=True)) == sorted(ticked)
    assert response.status_code == 302
    assert f"selection={selection.key}" in response.url and "start=2026-03-02" in response.url
    client.force_login(admin_user)
    shared = client.get(response.url + "&sort=code&dir=asc")
    assert codes(shared) == ["hel-0004", "lyo-0001"]
    assert "North vs Lyon" in shared.content.decode()
    assert client.get(reverse("compare"), {"selection": "nope"}).status_code == 404


def test_saving_without_a_name_or_without_sites_is_refused(planner_client, fleet):
    no_name = planner_client.post(reverse("compare-selection-save"), {"sites": fleet["steady"].pk})
    no_sites = planner_client.post(reverse("compare-selection-save"), {"name": "empty"})
    assert (no_name.status_code, no_sites.status_code) == (400, 400)
    assert "tick at least one site" in no_sites.content.decode()
    assert not SiteSelection.objects.exists()


def test_csv_holds_every_site_with_raw_numbers(planner_client, fleet):
    response = planner_client.get(reverse("compare-csv"), {**RANGE, "sort": "code", "dir": "asc"})
    assert response["Content-Type"].startswith("text/csv")
    assert "heatsite-compare-2026-03-02-2026-03-04.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["code"] for r in rows] == ["gre-0003", "hel-0004", "lyo-0001", "par-0002"]
    steady = rows[2]
    assert steady["period_start"] == "2026-03-02" and steady["period_end_exclusive"] == "2026-03-04"
    assert float(steady["heat_mwh"]) == pytest.approx(2.88)
    assert float(steady["efficiency_pct"]) == pytest.approx(90)
    assert steady["electrical_source"] == "measured"
    assert int(steady["id"]) == fleet["steady"].pk
    assert rows[1]["heat_mwh"] == "" and rows[1]["coverage_pct"] == "0.0"


@pytest.mark.parametrize("chart", ["bar", "map", "scatter", "series"])
def test_every_chart_is_a_plotly_figure(planner_client, fleet, chart):
    response = planner_client.get(
        reverse("compare-chart"), {**RANGE, "chart": chart, "column": "coverage_pct"}
    )
    assert response.status_code == 200
    figure = response.json()
    assert figure["data"] and "layout" in figure


def test_the_bar_chart_plots_the_chosen_column_in_table_order(planner_client, fleet):
    figure = planner_client.get(
        reverse("compare-chart"), {**RANGE, "chart": "bar", "column": "heat_mwh", "sort": "code",
                                   "dir": "asc"},
    ).json()  # fmt: skip
    bar = figure["data"][0]
    assert bar["x"] == ["gre-0003", "lyo-0001", "par-0002"]  # hel-0004 has no value
    assert bar["y"] == [2.87, 2.88, 2.88]


def test_the_map_is_offline_and_colours_sites_by_the_column(planner_client, fleet):
    figure = planner_client.get(
        reverse("compare-chart"), {**RANGE, "chart": "map", "column": "efficiency_pct"}
    ).json()
    assert figure["layout"]["geo"]["scope"] == "europe"
    assert figure["data"][0]["type"] == "scattergeo"
    assert figure["data"][0]["marker"]["color"] == [90.0]  # the only site placed with a value


def test_the_series_chart_draws_the_ticked_sites(planner_client, fleet):
    figure = planner_client.get(
        reverse("compare-chart"),
        {**RANGE, "chart": "series", "metric": "heat_mwh", "ids": [fleet["gappy"].pk]},
    ).json()
    assert [t["name"] for t in figure["data"]] == ["par-0002 Lycée Paris"]
    assert figure["data"][0]["x"] == ["2026-03-02", "2026-03-03"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [({"chart": "pie"}, "unknown chart"), ({"chart": "bar", "column": "name"}, "unknown column")],
)
def test_bad_chart_requests_are_a_400(planner_client, fleet, params, reason):
    response = planner_client.get(reverse("compare-chart"), {**RANGE, **params})
    assert response.status_code == 400 and reason in response.json()["detail"]


@pytest.mark.parametrize("name", ["compare", "compare-chart", "compare-csv"])
def test_partner_and_engineer_are_refused_and_anonymous_sent_to_login(client, users, fleet, name):
    url = reverse(name)
    assert client.get(url, RANGE).status_code == 302
    for role in ("partner", "engineer"):
        client.force_login(users[role])
        assert client.get(url, RANGE).status_code == 403


def test_partner_cannot_save_a_selection(client, partner, fleet):
    client.force_login(partner)
    response = client.post(reverse("compare-selection-save"), {"name": "x", "sites": 1})
    assert response.status_code == 403
    assert not SiteSelection.objects.exists()


def test_navigation_offers_compare_to_planners_only(client, users, fleet):
    for role, shown in (("planner", True), ("admin", True), ("partner", False),
                        ("engineer", False)):  # fmt: skip
        client.force_login(users[role])
        html = client.get(reverse("fleet")).content.decode()
        assert ('href="/compare/"' in html) is shown, role


# --- API -------------------------------------------------------------------------------------


def test_api_returns_one_row_per_visible_site_with_its_id(planner_client, fleet):
    response = planner_client.get(reverse("api:compare"), RANGE)
    assert response.status_code == 200
    body = response.json()
    assert (body["start"], body["end"], body["days"]) == ("2026-03-02", "2026-03-04", 2)
    assert [s["code"] for s in body["sites"]] == ["gre-0003", "hel-0004", "lyo-0001", "par-0002"]
    steady = next(s for s in body["sites"] if s["id"] == fleet["steady"].pk)
    assert steady["heat_mwh"] == pytest.approx(2.88)
    assert steady["electrical_source"] == "measured"
    assert steady["trend_pct"] == pytest.approx((2880 - 2296) / 2296 * 100)


def test_api_restricted_to_the_requested_sites_and_as_csv(planner_client, fleet):
    ids = f"{fleet['gappy'].pk},{fleet['steady'].pk}"
    body = planner_client.get(reverse("api:compare"), {**RANGE, "sites": ids}).json()
    assert sorted(s["id"] for s in body["sites"]) == sorted([fleet["gappy"].pk, fleet["steady"].pk])
    response = planner_client.get(reverse("api:compare"), {**RANGE, "sites": ids, "format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["code"] for r in rows] == ["lyo-0001", "par-0002"]


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"start": "2026-03-04", "end": "2026-03-02"}, "end (2026-03-02) must be after start"),
        ({"start": "2026-03-02"}, "both start and end are required"),
        ({}, "both start and end are required"),
        ({"start": "2026-03-02", "end": "tomorrow"}, "end: Enter a valid date"),
        ({"start": "1990-01-01", "end": "2026-03-02"}, "limited to 3660 days"),
    ],
)
def test_api_refuses_reversed_or_unbounded_periods_with_the_reason(
    planner_client, fleet, params, reason
):
    response = planner_client.get(reverse("api:compare"), params)
    assert response.status_code == 400
    assert reason in response.json()["detail"]


def test_api_refuses_partners_and_anonymous(client, partner, fleet):
    assert client.get(reverse("api:compare"), RANGE).status_code == 401
    client.force_login(partner)
    assert client.get(reverse("api:compare"), RANGE).status_code == 403


def test_api_unknown_site_is_a_404(planner_client, fleet):
    missing = Site.objects.order_by("-pk").first().pk + 1
    assert (
        planner_client.get(reverse("api:compare"), {**RANGE, "sites": missing}).status_code == 404
    )


def test_api_csv_errors_are_a_one_cell_csv_with_the_reason(planner_client, fleet):
    response = planner_client.get(reverse("api:compare"), {"start": "2026-03-02", "format": "csv"})
    assert response.status_code == 400
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["detail"] and "both start and end are required" in rows[1][0]
