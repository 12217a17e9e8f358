"""Websocket routes. Every route's consumer authorises through apps.accounts.access."""

from django.urls import path

from apps.console import consumers as console_consumers
from apps.firmware import consumers as firmware_consumers
from apps.sites import consumers as sites_consumers

websocket_urlpatterns = [
    path("ws/fleet/", sites_consumers.FleetLiveConsumer.as_asgi(), name="ws-fleet"),
    path("ws/sites/<int:site_id>/", sites_consumers.SiteLiveConsumer.as_asgi(), name="ws-site"),
    path(
        "ws/nodes/<int:node_id>/console/",
        console_consumers.NodeConsoleConsumer.as_asgi(),
        name="ws-node-console",
    ),
    path(
        "ws/campaigns/<int:campaign_id>/",
        firmware_consumers.CampaignLiveConsumer.as_asgi(),
        name="ws-campaign",
    ),
]
