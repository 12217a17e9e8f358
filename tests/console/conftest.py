"""Console tests: lab BMCs over real UDP, the broker in the test's event loop, the in-memory
channel layer, logs in a temporary folder."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import pytest_asyncio
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from apps.console.broker import ConsoleBroker
from apps.lab.bmc import LabBmcServer
from heatsite.routing import websocket_urlpatterns
from tests.factories import NodeFactory
from tests.identity.helpers import recent_factor_session

WAIT = 60.0  # bounds a broken run only: the machine is shared; nothing here asserts on timing


@pytest.fixture(autouse=True)
def console_settings(settings, tmp_path):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CONSOLE_LOG_DIR = tmp_path / "console"
    settings.CONSOLE_PROBE_INTERVAL = 0.3
    settings.CONSOLE_RECONNECT_DELAY = 0.2
    settings.CONSOLE_RECONNECT_MAX = 1.0
    settings.CONSOLE_BMC_TIMEOUT = 3.0  # a live lab BMC answers in ms; a dead one costs this
    settings.CONSOLE_RECHECK_INTERVAL = 30
    settings.CONSOLE_IDLE_TIMEOUT = 600
    return settings


@pytest.fixture
def lab():
    with LabBmcServer(count=3) as server:
        yield server


@pytest.fixture
def lab_node(lab, site):
    """A node whose BMC is lab BMC 0."""
    return NodeFactory(site=site, name="lab-node-001", bmc_host="127.0.0.1", bmc_port=lab.port(0))


@pytest_asyncio.fixture
async def broker(console_settings):
    """The console broker running in the test's event loop (shares the in-memory layer)."""
    instance = ConsoleBroker(layer=get_channel_layer(), workers=8)
    task = asyncio.create_task(instance.run())
    while not instance.ready.is_set():
        await asyncio.sleep(0.01)
    yield instance
    instance.stop()
    await asyncio.wait_for(task, timeout=30)


class Viewer:
    """A browser stand-in: collects the terminal bytes and the JSON events it receives."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self.screen = b""
        self.events: list[dict] = []
        self.closed_code: int | None = None

    @property
    def text(self) -> str:
        return self.screen.decode("utf-8", "replace")

    def last(self, kind: str) -> dict | None:
        return next((e for e in reversed(self.events) if e.get("type") == kind), None)

    async def until(self, predicate, seconds: float = WAIT) -> None:
        deadline = time.monotonic() + seconds
        while not predicate(self):
            remaining = deadline - time.monotonic()
            assert remaining > 0, (
                f"timed out; screen={self.text[-400:]!r} events={self.events[-5:]}"
            )
            try:
                message = await self.communicator.receive_output(timeout=remaining)
            except TimeoutError:
                continue
            if message["type"] == "websocket.close":
                self.closed_code = message.get("code")
                assert predicate(self), f"closed ({self.closed_code}); events={self.events[-5:]}"
                return
            if message.get("bytes") is not None:
                self.screen += message["bytes"]
            elif message.get("text") is not None:
                self.events.append(json.loads(message["text"]))

    async def until_state(self, state: str, seconds: float = WAIT) -> dict:
        await self.until(lambda v: (v.last("status") or {}).get("state") == state, seconds=seconds)
        return self.last("status")

    async def type(self, text: str) -> None:
        await self.communicator.send_json_to({"type": "input", "data": text})

    async def keyboard(self, action: str) -> None:
        await self.communicator.send_json_to({"type": "keyboard", "action": action})

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_viewer(user, node_id: int) -> tuple[bool, int | None, Viewer]:
    """Connects a websocket to the node's console as `user` (session auth is bypassed)."""
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/nodes/{node_id}/console/"
    )
    communicator.scope["user"] = user
    # Opening a console needs a second factor used in the last minutes (apps.identity.dangerous):
    # this viewer's session used one just now.
    communicator.scope["session"] = recent_factor_session(user)
    connected, code = await communicator.connect(timeout=WAIT)
    return connected, code, Viewer(communicator)


@pytest_asyncio.fixture
async def viewers():
    """Opens viewers (`await viewers(user, node_id)`) and closes them all at the end."""
    opened: list[Viewer] = []

    async def make(user, node_id: int) -> Viewer:
        connected, code, viewer = await open_viewer(user, node_id)
        assert connected, f"refused with {code}"
        opened.append(viewer)
        return viewer

    yield make
    for viewer in opened:
        if viewer.closed_code is None:
            await viewer.close()
