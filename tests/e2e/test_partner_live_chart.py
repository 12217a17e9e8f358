"""A partner watches their site's heat chart move, live, in a real browser.

The real ASGI application (HTTP and websockets) is served by Daphne on a free loopback port, in a
thread of this process so it shares the test database; pushes go through the Redis channel layer
(under a key prefix of this test's own), as in production. A lab heat meter is polled over Modbus
TCP by ``polling.poll_meters`` and the accepted reading is broadcast as the poller does
(``heat.reading`` to ``site.<id>.heat`` once the poll committed). The chart must grow by one
point, showing the new power, without a reload.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.heat import polling
from apps.lab.meters import MeterFarm, SimClock
from apps.sites.models import HeatMeter
from tests.factories import OrganisationFactory, SiteFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
STARTUP_TIMEOUT_S = 30


class DaphneThread:
    """Daphne serving ``heatsite.asgi.application`` from a daemon thread, on a free port.

    Twisted's reactor cannot be restarted: one server per process, which is all one test needs.
    """

    def __init__(self) -> None:
        from daphne.server import Server  # installs the asyncio reactor: import late
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from heatsite.asgi import application

        self.server = Server(
            application=ASGIStaticFilesHandler(application),
            endpoints=["tcp:port=0:interface=127.0.0.1"],
            signal_handlers=False,
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="daphne-e2e")

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not getattr(self.server, "listening_addresses", None):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("Daphne did not start listening")
            time.sleep(0.05)
        host, port = self.server.listening_addresses[0]
        return f"http://{host}:{port}"

    def __exit__(self, *exc: object) -> None:
        from twisted.internet import reactor

        reactor.callFromThread(reactor.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def redis_layer(settings) -> Iterator[None]:
    """The Redis channel layer under a prefix of this test's own (the server is shared)."""
    prefix = f"e2e-heat-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [django_settings.REDIS_URL], "prefix": prefix},
        }
    }
    redis.Redis.from_url(django_settings.REDIS_URL, socket_connect_timeout=5).ping()
    yield


@pytest.fixture
def asgi_server(redis_layer, settings) -> Iterator[str]:
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    with DaphneThread() as url:
        yield url


@pytest.fixture
def lab():
    clock = SimClock(timezone.now(), speed=1.0)  # wall-clock time: readings land "now"
    with MeterFarm(clock) as farm:
        yield farm, clock


def poll_and_broadcast(meter: HeatMeter, clock: SimClock) -> dict:
    """Poll one meter as the beat task does and push the accepted reading on commit."""
    # The timeout bounds a broken lab only: the farm answers on loopback in milliseconds.
    (result,) = polling.poll_meters([meter.id], timeout=30.0, clock=clock.now)
    assert result.ok, result.error
    r = result.reading
    event = {"type": "heat.reading", "site_id": meter.site_id, "ts": r.read_at.isoformat(),
             "power_kw": r.power_kw, "supply_c": r.supply_c, "return_c": r.return_c,
             "flow_m3h": r.flow_m3h}  # fmt: skip
    # Playwright's sync API keeps an event loop marked running on this thread, where
    # async_to_sync refuses to run: push from a worker thread, as a Celery worker would.
    layer = get_channel_layer()
    send = async_to_sync(layer.group_send)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(send, f"site.{meter.site_id}.heat", {"type": "push", "event": event}).result(
            timeout=60
        )
    return event


def chart_state(page: Page) -> dict:
    return page.evaluate(
        """() => { const d = document.getElementById('heat-chart').data[0];
                   return { n: d.x.length, x: d.x[d.x.length - 1], y: d.y[d.y.length - 1] }; }"""
    )


def test_partner_watches_the_live_chart_move_without_reload(page, asgi_server, lab, client):
    farm, clock = lab
    org = OrganisationFactory(name="Réseau Chaleur Urbaine")
    site = SiteFactory(partner=org, code="urb-001", name="Piscine Grenoble")
    partner = UserFactory(username="partner-live", role=Role.PARTNER, organisation=org)
    sim = farm.add("HM-LIVE-1", load_kw=80, daily_swing=0.0)
    meter = HeatMeter.objects.create(site=site, serial="HM-LIVE-1", host=sim.host, port=sim.port,
                                     unit_id=sim.unit_id)  # fmt: skip
    poll_and_broadcast(meter, clock)  # one reading already stored when the page opens

    client.force_login(partner)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": asgi_server}]
    )
    page.goto(f"{asgi_server}/sites/{site.pk}/")
    expect(page.locator("#heat-chart .main-svg").first).to_be_attached()
    expect(page.locator("body")).to_have_attribute("data-live", "connected")
    before = chart_state(page)
    assert before["n"] == 1
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    farm["HM-LIVE-1"].sim.set_load(40.0, daily_swing=0.0)  # the output halves
    clock.advance(10)
    event = poll_and_broadcast(meter, clock)

    expect(page.locator("#heat-chart")).to_have_attribute("data-seq", "1")
    after = chart_state(page)
    assert after["n"] == before["n"] + 1
    assert after["y"] == pytest.approx(event["power_kw"], abs=0.05)
    assert after["y"] < before["y"]
    # Drawn at the reading's time in the site's local time (Paris), whatever the browser's zone.
    local = datetime.fromisoformat(event["ts"]).astimezone(site.tzinfo)
    assert after["x"] == local.strftime("%Y-%m-%d %H:%M:%S")
    expect(page.locator('[data-live="power_kw"]')).to_have_text(f"{event['power_kw']:.1f}")
    assert page.evaluate("window.__sameDocument") is True
