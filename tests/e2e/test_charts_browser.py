"""Charts read in the site's local time, in a real browser, whatever the browser's zone.

The site is in Tokyo (UTC+9, no summer time): a chart labelled in UTC, or in the browser's zone,
would show hours nine away from the window it draws. The node has one sensor reading, the case
that once zoomed the axis to milliseconds ("00:32:03.0135"); the site has no heat reading yet.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.hardware.models import NodeTelemetry
from tests.e2e.login import log_in as log_in_as
from tests.factories import NodeFactory, OrganisationFactory, SiteFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
HOUR_MINUTE = re.compile(r"^(\d{2}):(\d{2})")
# Seconds between the page being rendered and this test reading the clock.
SLACK = timedelta(minutes=5)


@pytest.fixture
def tokyo_node():
    site = SiteFactory(
        partner=OrganisationFactory(name="Tokyo Heat"), code="tyo-001", timezone="Asia/Tokyo"
    )
    node = NodeFactory(site=site, name="tyo-001-n01")
    NodeTelemetry.objects.create(
        node=node, at=timezone.now() - timedelta(minutes=3), power_state="on", power_w=412.0,
        cpu_temp_c=61.0, water_in_c=40.0, water_out_c=48.0,
    )  # fmt: skip
    UserFactory(username="engineer-tyo", role=Role.ENGINEER)
    return node


def log_in(page: Page, base_url: str) -> None:
    log_in_as(page, base_url, "engineer-tyo")


def in_window(minute: int, start: datetime, end: datetime) -> bool:
    """Whether a tick's minute of the day falls in the local window (which may span midnight)."""
    first = start.hour * 60 + start.minute
    width = int((end - start).total_seconds() // 60)
    return (minute - first) % 1440 <= width


def assert_ticks_in_local_window(page: Page, chart: str, hours: float) -> None:
    ticks = page.locator(f"{chart} .xtick text")
    expect(ticks.first).to_be_visible()
    texts = ticks.all_text_contents()
    assert not [t for t in texts if re.search(r"\d:\d{2}:\d{2}\.\d", t)], texts  # no millisecond
    minutes = [int(m[1]) * 60 + int(m[2]) for t in texts if (m := HOUR_MINUTE.match(t))]
    assert len(minutes) >= 3, texts  # hours over the window, not a single instant
    now = timezone.now().astimezone(TOKYO)
    start, end = now - timedelta(hours=hours) - SLACK, now + SLACK
    assert all(in_window(m, start, end) for m in minutes), (texts, start, end)


def push(page: Page, chart: str, event: dict) -> dict:
    """Dispatches a websocket event as ``Heatsite.liveSite`` does; returns the chart's state."""
    return page.evaluate(
        """([chart, event]) => {
            document.dispatchEvent(new CustomEvent("heatsite:event", { detail: event }));
            const el = document.getElementById(chart), xs = el.data[0].x;
            const range = el.layout.xaxis.range, ms = (x) => Date.parse(x.replace(" ", "T") + "Z");
            return { n: xs.length, x: xs[xs.length - 1], range: range,
                     width_h: (ms(range[1]) - ms(range[0])) / 3600000 };
        }""",
        [chart, event],
    )


def test_node_and_site_charts_label_their_time_axis_in_the_sites_zone(
    tokyo_node, live_server, page
):
    page.context.clear_cookies()
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/nodes/{tokyo_node.pk}/")
    expect(page.locator("#sensor-chart .main-svg").first).to_be_attached()
    assert_ticks_in_local_window(page, "#sensor-chart", hours=6)
    # a poll pushed later: drawn at its local time, and the 6 h window slides to show it
    at = timezone.now() + timedelta(minutes=10)
    state = push(page, "sensor-chart", {"type": "node.state", "node_id": tokyo_node.pk,
                                        "power_w": 398.0, "at": at.isoformat()})  # fmt: skip
    assert state["x"] == at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S") and state["n"] == 2
    assert state["range"][1] == state["x"] and state["width_h"] == pytest.approx(6, abs=0.01)

    page.goto(f"{live_server.url}/sites/{tokyo_node.site_id}/")
    expect(page.locator("#heat-chart .main-svg").first).to_be_attached()
    assert_ticks_in_local_window(page, "#heat-chart", hours=6)
    ts = timezone.now() + timedelta(minutes=10)
    state = push(page, "heat-chart", {"type": "heat.reading", "site_id": tokyo_node.site_id,
                                      "ts": ts.isoformat(), "power_kw": 4.3, "supply_c": 70.0,
                                      "return_c": 41.0})  # fmt: skip
    assert state["x"] == ts.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M:%S") and state["n"] == 1
    assert state["range"][1] == state["x"] and state["width_h"] == pytest.approx(6, abs=0.01)
    # power and temperatures in two panels: two y axes, one above the other
    assert page.locator("#heat-chart .yaxislayer-above").count() >= 1
    titles = page.locator("#heat-chart .g-ytitle, #heat-chart .g-y2title").all_text_contents()
    assert "Thermal power (kW)" in titles and "Temperature (°C)" in titles
