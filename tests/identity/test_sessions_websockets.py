"""Ending a user's sessions closes their open websockets and consoles, through a real (Redis)
channel layer, as in production: the web process that ends the sessions is not the one that
holds the sockets."""

import json
import os
import uuid

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.console.models import ConsoleSession
from apps.identity.sessions import user_group
from heatsite.asgi import application

REDIS_TEST_URL = "redis://127.0.0.1:6379/14"
WAIT = 30  # generous: a busy machine; the close itself is pushed, never polled


@pytest.fixture
def redis_layer(settings):
    prefix = f"heatsite-test-identity-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    connection = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=5)
    connection.ping()
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_TEST_URL], "prefix": prefix},
        }
    }
    yield
    channel_layers.backends.clear()
    for key in connection.scan_iter(f"{prefix}*"):
        connection.delete(key)


def _logged_in(user):
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def _connect(path, cookie):
    communicator = WebsocketCommunicator(
        application,
        path,
        headers=[
            (b"origin", b"http://testserver"),
            (b"host", b"testserver"),
            (b"cookie", f"sessionid={cookie}".encode()),
        ],
    )
    connected, code = await communicator.connect(timeout=WAIT)
    assert connected, code
    return communicator


async def _until_closed(communicator):
    """The frames received until the socket closed, and its close code."""
    frames = []
    while True:
        message = await communicator.receive_output(timeout=WAIT)
        if message["type"] == "websocket.close":
            return frames, message.get("code")
        if message.get("text"):
            frames.append(json.loads(message["text"]))


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_deactivating_a_user_closes_their_live_pages_and_consoles(
    redis_layer, engineer, planner, node
):
    cookie = await sync_to_async(_logged_in)(engineer)
    fleet = await _connect("/ws/fleet/", cookie)
    console = await _connect(f"/ws/nodes/{node.pk}/console/", cookie)
    other = await _connect("/ws/fleet/", await sync_to_async(_logged_in)(planner))

    engineer.is_active = False
    await sync_to_async(engineer.save)()

    for communicator in (fleet, console):
        frames, code = await _until_closed(communicator)
        assert code == 4401
        assert {"type": "revoked", "text": "Your session was ended."} in frames
    session = await sync_to_async(ConsoleSession.objects.get)(user=engineer)
    assert session.closed_at is not None
    assert session.close_reason == "user deactivated"

    # the planner's socket is still open: a message to their group reaches it
    layer = channel_layers["default"]
    await layer.group_send(user_group(planner.pk), {"type": "push", "event": {"still": "open"}})
    assert await other.receive_json_from(timeout=WAIT) == {"still": "open"}
    await other.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_ending_the_other_sessions_leaves_this_sessions_sockets_open(redis_layer, engineer):
    from apps.identity.sessions import end_all

    this = await sync_to_async(_logged_in)(engineer)
    elsewhere = await sync_to_async(_logged_in)(engineer)
    mine = await _connect("/ws/fleet/", this)
    theirs = await _connect("/ws/fleet/", elsewhere)

    await sync_to_async(end_all)(engineer, reason="ended by the user", keep_session=this)

    _frames, code = await _until_closed(theirs)
    assert code == 4401
    layer = channel_layers["default"]
    await layer.group_send(user_group(engineer.pk), {"type": "push", "event": {"n": 1}})
    assert await mine.receive_json_from(timeout=WAIT) == {"n": 1}
    await mine.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_session_past_its_idle_limit_opens_no_websocket(engineer, monkeypatch):
    import time

    client = Client()
    await sync_to_async(client.force_login)(engineer)
    await sync_to_async(client.get)("/account/")  # starts the session's clocks
    monkeypatch.setattr("apps.identity.clock.now", lambda: time.time() + 31 * 60)
    communicator = WebsocketCommunicator(
        application,
        "/ws/fleet/",
        headers=[
            (b"origin", b"http://testserver"),
            (b"host", b"testserver"),
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
        ],
    )
    connected, code = await communicator.connect(timeout=WAIT)
    assert (connected, code) == (False, 4401)
