"""A Redfish-only node has no serial console in Heatsite (IPMI SOL): the page and socket say so."""

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from apps.console.models import ConsoleSession
from heatsite.routing import websocket_urlpatterns
from tests.factories import NodeFactory
from tests.identity.helpers import recent_factor_session


@pytest.mark.django_db
def test_a_redfish_only_nodes_console_page_says_why_there_is_no_console(client, engineer, site):
    node = NodeFactory(site=site, bmc_protocol="redfish")
    client.force_login(engineer)
    response = client.get(reverse("node-console", args=[node.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="no-console"' in html and "Redfish only" in html
    assert "js/console.js" not in html


@pytest.mark.django_db
def test_an_auto_nodes_console_page_keeps_the_terminal(client, engineer, site):
    node = NodeFactory(site=site, bmc_protocol="auto")
    client.force_login(engineer)
    html = client.get(reverse("node-console", args=[node.pk])).content.decode()
    assert 'data-testid="terminal"' in html


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_redfish_only_nodes_console_socket_explains_and_closes(users, site):
    from asgiref.sync import sync_to_async

    node = await sync_to_async(NodeFactory)(site=site, bmc_protocol="redfish")
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/nodes/{node.pk}/console/"
    )
    communicator.scope["user"] = users["engineer"]
    communicator.scope["session"] = recent_factor_session(users["engineer"])
    connected, _ = await communicator.connect()
    assert connected
    message = await communicator.receive_json_from(timeout=30)
    assert message["type"] == "error" and "Redfish only" in message["text"]
    closed = await communicator.receive_output(timeout=30)
    assert closed == {"type": "websocket.close", "code": 4409}
    assert not await ConsoleSession.objects.filter(node=node).aexists()
    await communicator.disconnect()
