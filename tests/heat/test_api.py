"""Heat API: series and statements under the pages' access rules; bad parameters are 400s."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from apps.heat.ingest import ingest_readings
from tests.heat.test_views import reading

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 1, 10, 11, 0, tzinfo=UTC)


@pytest.fixture
def partner_org(site):
    return site.partner


@pytest.fixture(autouse=True)
def ten_minute_gap_limit(settings):
    settings.HEAT_MAX_GAP_S = 900


@pytest.fixture
def meter(make_meter):
    meter = make_meter(serial="HM-API-1")
    times = [T0 + timedelta(minutes=10 * i) for i in (0, 1, 2, 6, 7)]  # a 40-minute hole
    ingest_readings({meter.id: [reading(t, 100 + 10 * i) for i, t in enumerate(times)]})
    return meter


def series(client, site, **params):
    return client.get(reverse("api:site-heat", args=[site.pk]), params)


def test_raw_series_in_local_time_with_a_null_point_over_the_gap(client, partner, site, meter):
    client.force_login(partner)
    body = series(client, site, start="2026-01-10T12:00:00+01:00",
                  end="2026-01-10T13:30:00+01:00", resolution="raw").json()  # fmt: skip
    points = body["points"]
    assert body["timezone"] == "Europe/Paris" and body["start"] == "2026-01-10T12:00:00+01:00"
    assert points[0]["ts"] == "2026-01-10T12:00:00+01:00"
    assert [p["power_kw"] is None for p in points] == [False, False, False, True, False, False]
    assert "meter" not in points[0]  # partners never get the hardware's identity in a series


def test_engineer_raw_series_names_the_meter(client, engineer, site, meter):
    client.force_login(engineer)
    body = series(client, site, start="2026-01-10T11:00:00Z", end="2026-01-10T12:30:00Z").json()
    assert {p["meter"] for p in body["points"]} == {"HM-API-1"}


def test_hourly_series_reports_energy_and_coverage_per_bucket(client, planner, site, meter):
    client.force_login(planner)
    body = series(client, site, start="2026-01-10T11:00:00Z", end="2026-01-10T13:00:00Z",
                  resolution="hour").json()  # fmt: skip
    first, second = body["points"]
    # Register increases are booked with the later reading: 11:10, 11:20 | 12:00 (after the
    # hole), 12:10; coverage counts 11:00-11:20 | 12:00-12:10 only.
    assert first["energy_kwh"] == pytest.approx(20) and first["coverage"] == pytest.approx(1 / 3)
    assert second["energy_kwh"] == pytest.approx(20) and second["coverage"] == pytest.approx(1 / 6)


def test_an_unencoded_plus_offset_is_understood(client, partner, site, meter):
    client.force_login(partner)
    query = "start=2026-01-10T12:00:00+01:00&end=2026-01-10T13:00:00+01:00"
    response = client.get(f"/api/v1/sites/{site.pk}/heat/?{query}")
    assert response.status_code == 200 and response.json()["start"] == "2026-01-10T12:00:00+01:00"


NOW = T0 + timedelta(hours=2)


@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({}, "2026-01-09T14:00:00+01:00", "2026-01-10T14:00:00+01:00"),
        ({"end": "2026-01-10T12:30:00Z"}, "2026-01-09T13:30:00+01:00", "2026-01-10T13:30:00+01:00"),
        ({"start": "2026-01-10T12:30Z"}, "2026-01-10T13:30:00+01:00", "2026-01-10T14:00:00+01:00"),
        ({"start": "", "end": ""}, "2026-01-09T14:00:00+01:00", "2026-01-10T14:00:00+01:00"),
    ],
)  # fmt: skip
def test_a_missing_end_is_now_and_a_missing_start_24_hours_before_the_end(
    client, partner, site, meter, monkeypatch, params, start, end
):
    monkeypatch.setattr("apps.heat.api.timezone.now", lambda: NOW)
    client.force_login(partner)
    body = series(client, site, **params).json()
    assert (body["start"], body["end"], body["resolution"]) == (start, end, "raw")


def test_the_default_series_is_the_last_24_hours_of_readings(
    client, partner, site, meter, monkeypatch
):
    monkeypatch.setattr("apps.heat.api.timezone.now", lambda: NOW)
    client.force_login(partner)
    points = series(client, site, resolution="hour").json()["points"]
    assert len(points) == 24 and points[-1]["ts"] == "2026-01-10T13:00:00+01:00"
    assert sum(p["energy_kwh"] or 0 for p in points) == pytest.approx(40)  # every reading


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"start": "2026-01-10T11:00Z", "end": "2026-01-10T12:00Z", "resolution": "minute"},
         "unknown resolution 'minute'"),
        ({"start": "2026-01-10T12:00Z", "end": "2026-01-10T11:00Z"}, "end must be after start"),
        ({"start": "2199-01-10T12:00Z"}, "end must be after start"),  # end: now
        ({"end": "2026-01-10T12:00Z", "start": "2026-01-11T12:00Z"}, "end must be after start"),
        ({"start": "2026-01-10T11:00", "end": "2026-01-10T12:00Z"}, "must carry a UTC offset"),
        ({"start": "yesterday", "end": "2026-01-10T12:00Z"}, "start is not an ISO 8601"),
        ({"start": "2026-02-30T00:00Z", "end": "2026-03-01T00:00Z"}, "start is not an ISO 8601"),
        ({"start": "2026-01-01T00:00Z", "end": "2026-01-09T00:00Z", "resolution": "raw"},
         "raw resolution is limited to 7 days"),
        ({"start": "2020-01-01T00:00Z", "end": "2026-01-01T00:00Z", "resolution": "hour"},
         "hour resolution is limited to 366 days"),
    ],
)  # fmt: skip
def test_bad_series_parameters_get_a_400_with_the_reason(client, partner, site, params, reason):
    client.force_login(partner)
    response = series(client, site, **params)
    assert response.status_code == 400
    assert reason in response.json()["detail"]


def test_statement_json_carries_the_billing_figures(client, partner, site, meter):
    client.force_login(partner)
    body = client.get(reverse("api:site-heat-statement", args=[site.pk]), {"month": "2026-01"})
    doc = body.json()
    assert doc["partner"] == site.partner.name and doc["month"] == "2026-01"
    assert doc["period_start"] == "2026-01-01T00:00:00+01:00"
    assert doc["period_end"] == "2026-02-01T00:00:00+01:00"
    assert doc["energy_kwh"] == pytest.approx(40)
    [line] = doc["lines"]
    assert line["meter_serial"] == "HM-API-1"
    assert (line["start_register_kwh"], line["end_register_kwh"]) == (100, 140)
    assert line["hours_at_or_above_contract"] == pytest.approx(0.5)  # 3 covered intervals


@pytest.mark.parametrize("how", ["accept", "format"])
def test_statement_as_csv_by_content_negotiation(client, partner, site, meter, how):
    client.force_login(partner)
    url = reverse("api:site-heat-statement", args=[site.pk])
    if how == "accept":
        response = client.get(url, {"month": "2026-01"}, headers={"accept": "text/csv"})
    else:
        response = client.get(url, {"month": "2026-01", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "heat-statement-lyon-1-2026-01.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["meter_serial"] for r in rows] == ["HM-API-1", "TOTAL"]
    assert rows[1]["energy_kwh"] == "40.000"


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "26-01", "", "1999-12", "2026-1"])
def test_impossible_month_gets_a_400_with_the_reason(client, partner, site, month):
    client.force_login(partner)
    response = client.get(reverse("api:site-heat-statement", args=[site.pk]), {"month": month})
    assert response.status_code == 400
    assert "month" in response.json()["detail"]


def test_bad_month_as_csv_is_still_a_400_with_the_reason(client, partner, site):
    client.force_login(partner)
    response = client.get(
        reverse("api:site-heat-statement", args=[site.pk]), {"month": "2026-13", "format": "csv"}
    )
    assert response.status_code == 400
    assert "impossible month '2026-13'" in response.content.decode()


@pytest.mark.parametrize("name", ["api:site-heat", "api:site-heat-statement"])
def test_partner_gets_404_for_another_partners_site_heat(client, partner, other_site, name):
    client.force_login(partner)
    response = client.get(reverse(name, args=[other_site.pk]), {"month": "2026-01"})
    assert response.status_code == 404


def test_token_authenticated_partner_reads_own_heat(client, partner, site, meter):
    from apps.tokens.services import create_token

    _, secret = create_token(partner, name="erp")
    response = client.get(
        reverse("api:site-heat-statement", args=[site.pk]),
        {"month": "2026-01"},
        headers={"authorization": f"Token {secret}"},
    )
    assert response.status_code == 200 and response.json()["energy_kwh"] == pytest.approx(40)
