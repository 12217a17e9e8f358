"""The serial console in a real browser: open the page, type a command, read the answer.

Everything runs in this process except Chromium: an ASGI server (uvicorn, in a thread) serving
the real application with websockets, the console broker (its own thread and event loop), a lab
BMC over UDP, and a Redis channel layer on a database and prefix of its own, which the server
and the broker share as they would in production.
"""

from __future__ import annotations

import asyncio
import re
import threading

import pytest
import redis
from channels.layers import channel_layers
from playwright.sync_api import Page, expect

from apps.console.broker import ConsoleBroker
from apps.lab.bmc import LabBmcServer
from tests.e2e.asgi import asgi_served
from tests.e2e.login import log_in
from tests.factories import NodeFactory, SiteFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

REDIS_TEST_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def redis_layer(settings, tmp_path):
    redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=5).ping()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_TEST_URL], "prefix": "heatsite-e2e-console"},
        }
    }
    settings.CONSOLE_LOG_DIR = tmp_path / "console"
    settings.WHITENOISE_USE_FINDERS = True
    yield
    channel_layers.backends.clear()


@pytest.fixture
def asgi_server(redis_layer):
    """The application on a free loopback port, websockets included; yields its base URL."""
    with asgi_served() as url:
        yield url


@pytest.fixture
def broker(redis_layer):
    """The console broker in its own thread, as in production (one loop of its own)."""
    instance = ConsoleBroker(workers=4)
    thread = threading.Thread(target=lambda: asyncio.run(instance.run()), daemon=True)
    thread.start()
    assert instance.ready.wait(60)
    yield instance
    instance.stop()
    thread.join(timeout=30)


def test_an_engineer_types_a_command_and_reads_the_answer(page: Page, asgi_server, broker):
    with LabBmcServer(count=1) as lab:
        site = SiteFactory(code="grn-0001", name="Piscine Grenoble")
        node = NodeFactory(site=site, name="lab-node-001", bmc_port=lab.port(0))
        UserFactory(username="engineer")

        log_in(page, asgi_server, "engineer")
        page.goto(f"{asgi_server}/nodes/{node.pk}/console/")

        screen = page.locator("#terminal .xterm-rows")
        expect(page.get_by_test_id("console-state")).to_have_attribute("data-state", "connected")
        expect(screen).to_contain_text("lab-node-001 serial console (type 'help')")
        expect(page.get_by_test_id("keyboard-holder")).to_have_text("You hold the keyboard.")

        page.locator("#terminal").click()
        page.keyboard.type("uname")
        page.keyboard.press("Enter")

        expect(screen).to_contain_text("Linux lab-node-001 6.1.0-heatsite-lab #1 SMP")
        expect(screen).to_contain_text(re.compile(r"\$ uname"))
        box = page.locator("#terminal").bounding_box()
        assert box is not None and box["height"] > 300  # sized to the window, not a fixed box
