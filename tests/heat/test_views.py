"""Heat pages and fragments: what each role sees, and that a partner sees only their own heat.

Readings enter through ``ingest_readings`` (the production path); the site is the
heat conftest's Paris site with a 65 °C contract, owned by the ``partner`` fixture's organisation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.heat import physics
from apps.heat.ingest import ingest_readings
from apps.heat.meters import MeterReading
from apps.heat.models import HeatAlarm, MeterState
from tests.factories import HeatMeterFactory, SiteFactory

pytestmark = pytest.mark.django_db

HEAT_PAGES = [
    "heat-chart",
    "heat-summary",
    "heat-alarms",
    "heat-statements",
    "heat-statement",
    "heat-statement-csv",
    "heat-statement-pdf",
]


@pytest.fixture
def partner_org(site):
    # The global role fixtures build `partner` on `partner_org`: make it the heat site's owner.
    return site.partner


@pytest.fixture(autouse=True)
def ten_minute_gap_limit(settings):
    settings.HEAT_MAX_GAP_S = 900


def reading(ts, energy, *, power=50.0, supply=70.0, ret=40.0):
    flow = physics.flow_for_power_m3h(power, supply, ret) if power else 0.0
    return MeterReading(supply_c=supply, return_c=ret, flow_m3h=flow, power_kw=power,
                        energy_kwh=energy, read_at=ts)  # fmt: skip


def ingest(meter, readings):
    ingest_readings({meter.id: readings})


def url(name, site, month="2026-01"):
    monthly = name.startswith("heat-statement") and name != "heat-statements"
    return reverse(name, args=[site.pk, month] if monthly else [site.pk])


@pytest.fixture
def meter(make_meter):
    return make_meter(serial="HM-SECRET-1", host="10.9.8.7", port=5020)


@pytest.fixture
def live_meter(meter):
    """Readings every 10 minutes for the last hour, with a 30-minute hole in the middle."""
    now = timezone.now().replace(microsecond=0)
    times = [now - timedelta(minutes=m) for m in (60, 50, 40, 10, 0)]
    ingest(meter, [reading(t, 1000 + 10 * i, power=40.0 + i) for i, t in enumerate(times)])
    return meter


def alarms(site, meter):
    now = timezone.now()
    HeatAlarm.objects.create(site=site, kind=HeatAlarm.Kind.BELOW_CONTRACT, raised_at=now,
                             detail="Supply 58.0 °C below the contracted 65 °C for 20 min",
                             partner_visible=True)  # fmt: skip
    HeatAlarm.objects.create(site=site, meter=meter, kind=HeatAlarm.Kind.METER_OFFLINE,
                             raised_at=now, detail="Meter does not answer (engineering)",
                             partner_visible=False)  # fmt: skip


def test_site_page_shows_current_heat_server_side_before_any_websocket_event(
    client, partner, site, live_meter
):
    client.force_login(partner)
    html = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert '<span data-live="power_kw">44.0</span>' in html
    assert '<span data-live="supply_c">70.0</span>' in html
    assert '<span data-live="return_c">40.0</span>' in html
    assert 'data-testid="supply-state"' in html and ">met<" in html


def test_site_page_embeds_the_live_figure_in_site_local_time(client, partner, site, live_meter):
    client.force_login(partner)
    response = client.get(reverse("site-detail", args=[site.pk]))
    figure = response.context["heat_figure"]
    last = live_meter.readings.order_by("-ts").first().ts
    assert figure["data"][0]["x"][-1] == last.astimezone(site.tzinfo).strftime("%Y-%m-%d %H:%M:%S")
    assert figure["meta"]["live"] is True
    assert 'id="heat-figure"' in response.content.decode()


def test_partner_site_page_shows_no_hardware_and_no_engineering_alarm(
    client, partner, site, live_meter
):
    alarms(site, live_meter)
    client.force_login(partner)
    html = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert "Supply below contracted minimum" in html
    for secret in ("HM-SECRET-1", "10.9.8.7", "5020", "Heat meter offline", "engineering"):
        assert secret not in html


def test_engineer_site_page_shows_every_active_alarm_with_its_meter(
    client, engineer, site, live_meter
):
    alarms(site, live_meter)
    client.force_login(engineer)
    html = client.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert "Supply below contracted minimum" in html
    assert "Heat meter offline" in html and "meter HM-SECRET-1" in html


def test_alarm_history_lists_cleared_alarms_and_hides_engineering_ones_from_partners(
    client, users, site, live_meter
):
    alarms(site, live_meter)
    HeatAlarm.objects.filter(kind=HeatAlarm.Kind.BELOW_CONTRACT).update(cleared_at=timezone.now())
    client.force_login(users["partner"])
    html = client.get(reverse("heat-alarms", args=[site.pk])).content.decode()
    assert 'data-alarm-kind="below_contract"' in html and "active</span>" not in html
    assert "meter_offline" not in html
    client.force_login(users["engineer"])
    html = client.get(reverse("heat-alarms", args=[site.pk])).content.decode()
    assert 'data-alarm-kind="meter_offline"' in html and "active</span>" in html


def test_summary_fragment_reports_delivered_heat_and_contract_hours(
    client, planner, site, meter, monkeypatch
):
    now = datetime(2026, 1, 20, 12, 0, tzinfo=UTC)
    # The page is opened a minute after the last reading: periods end (exclusive) at "now".
    monkeypatch.setattr(timezone, "now", lambda: now + timedelta(minutes=1))
    start = now - timedelta(minutes=30)
    # 30 minutes at 60 kW: 20 minutes at 70 °C, then 10 minutes below contract at 60 °C.
    minutes = timedelta(minutes=1)
    ingest(meter, [reading(start, 100, power=60), reading(start + 10 * minutes, 110, power=60),
                   reading(start + 20 * minutes, 120, power=60, supply=60),
                   reading(now, 130, power=60, supply=60)])  # fmt: skip
    client.force_login(planner)
    response = client.get(reverse("heat-summary", args=[site.pk]))
    rows = {row["key"]: row for row in response.context["heat_rows"]}
    for key in ("today", "month", "year"):
        assert rows[key]["energy"] == "30.0 kWh_th"
        assert rows[key]["hours_ok"] == "0.3 h"  # 20 min
        assert rows[key]["hours_below"] == "0.2 h"  # 10 min
        assert rows[key]["availability"] == "66.7 %"
        assert rows[key]["last_year"] == "—"
    assert 'data-testid="heat-delivered"' in response.content.decode()


def test_chart_json_breaks_the_line_over_a_gap(client, partner, site, live_meter):
    client.force_login(partner)
    figure = client.get(reverse("heat-chart", args=[site.pk])).json()
    power = figure["data"][0]["y"]
    assert None in power  # the 30-minute hole is drawn as a hole, not as zero
    assert 0 not in power and len(power) == 6


@pytest.mark.parametrize(
    ("window", "resolution"),
    [("live", "raw"), ("day", "hour"), ("week", "hour"), ("month", "hour"), ("year", "day")],
)
def test_chart_windows_read_raw_or_rollups(client, engineer, site, live_meter, window, resolution):
    client.force_login(engineer)
    figure = client.get(reverse("heat-chart", args=[site.pk]), {"window": window}).json()
    assert figure["meta"]["resolution"] == resolution
    assert figure["meta"]["window"] == window
    assert any(v is not None for v in figure["data"][0]["y"])


def test_unknown_chart_window_is_a_400_with_the_reason(client, partner, site):
    client.force_login(partner)
    response = client.get(reverse("heat-chart", args=[site.pk]), {"window": "decade"})
    assert response.status_code == 400
    assert "unknown window 'decade'" in response.json()["detail"]


@pytest.mark.parametrize("name", HEAT_PAGES)
def test_partner_gets_404_on_every_heat_page_of_another_partners_site(
    client, partner, other_site, name
):
    client.force_login(partner)
    assert client.get(url(name, other_site)).status_code == 404


@pytest.mark.parametrize("name", HEAT_PAGES)
def test_other_partner_gets_404_for_this_partners_heat(client, other_partner, site, name):
    client.force_login(other_partner)
    assert client.get(url(name, site)).status_code == 404


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "january", "1999-12"])
def test_impossible_statement_month_is_a_400_with_the_reason(client, partner, site, month):
    client.force_login(partner)
    for name in ("heat-statement", "heat-statement-csv", "heat-statement-pdf"):
        response = client.get(url(name, site, month))
        assert response.status_code == 400
        assert month in response.content.decode()


def test_statement_list_offers_every_month_since_the_first_reading(client, partner, site, meter):
    ingest(meter, [reading(timezone.now() - timedelta(days=70), 0, power=0.0)])
    client.force_login(partner)
    response = client.get(reverse("heat-statements", args=[site.pk]))
    months = [row["month"] for row in response.context["months"]]
    assert 3 <= len(months) <= 4
    assert months[0] == timezone.now().astimezone(site.tzinfo).strftime("%Y-%m")
    assert f'href="{reverse("heat-statement-pdf", args=[site.pk, months[-1]])}"' in (
        response.content.decode()
    )


# --- fleet -----------------------------------------------------------------------------------


@pytest.fixture
def fleet(site, other_site, live_meter):
    """Three sites: the partner's (live), the partner's second (stale meter), another's (live)."""
    second = SiteFactory(partner=site.partner, code="lyon-2", name="Lyon 2")
    stale = HeatMeterFactory(site=second)
    ingest(stale, [reading(timezone.now() - timedelta(hours=2), 5, power=30.0)])
    foreign = HeatMeterFactory(site=other_site)
    ingest(foreign, [reading(timezone.now() - timedelta(minutes=1), 7, power=100.0)])
    return {"second": second, "foreign": foreign}


def test_fleet_shows_each_sites_live_output_and_total_from_the_latest_readings(
    client, engineer, site, other_site, fleet
):
    client.force_login(engineer)
    response = client.get(reverse("fleet"))
    html = response.content.decode()
    assert f'data-live-site="{site.pk}">44.0 kW<' in html
    assert f'data-live-site="{other_site.pk}">100.0 kW<' in html
    assert f'data-live-site="{fleet["second"].pk}">—<' in html  # 2 h old: not "live"
    assert '<span id="fleet-total-kw">144.0</span>' in html


def test_partner_fleet_total_counts_only_their_sites(client, partner, site, other_site, fleet):
    client.force_login(partner)
    html = client.get(reverse("fleet")).content.decode()
    assert '<span id="fleet-total-kw">44.0</span>' in html
    assert f'data-live-site="{other_site.pk}"' not in html


def test_offline_meter_does_not_count_as_live_output(client, engineer, site, fleet, live_meter):
    MeterState.objects.filter(meter=live_meter).update(status=MeterState.Status.OFFLINE)
    client.force_login(engineer)
    html = client.get(reverse("fleet")).content.decode()
    assert f'data-live-site="{site.pk}">—<' in html
    assert '<span id="fleet-total-kw">100.0</span>' in html


def test_fleet_alarm_badges_count_what_the_role_may_see(client, users, site, live_meter):
    alarms(site, live_meter)
    counts = {}
    for role in ("partner", "planner", "engineer"):
        client.force_login(users[role])
        response = client.get(reverse("fleet"))
        counts[role] = response.context["alarm_counts"].get(site.pk)
    assert counts == {"partner": 1, "planner": 1, "engineer": 2}
