from django.urls import path

from apps.firmware import api, bundle_api, bundle_views, campaign_api, campaign_views, views
from apps.firmware.campaign_services import TRANSITIONS

urlpatterns = [
    path("firmware/images/<str:token>/", views.firmware_image, name="firmware-image"),
    path("firmware/bundles/", bundle_views.bundle_list, name="firmware-bundles"),
    path("firmware/bundles/<int:pk>/", bundle_views.bundle_detail, name="firmware-bundle"),
    path("firmware/campaigns/", campaign_views.campaign_list, name="firmware-campaigns"),
    path("firmware/campaigns/new/", campaign_views.campaign_new, name="firmware-campaign-new"),
    path("firmware/campaigns/<int:pk>/", campaign_views.campaign_detail, name="firmware-campaign"),
    *(
        path(
            f"firmware/campaigns/<int:pk>/{action}/",
            campaign_views.campaign_action,
            {"action": action},
            name=f"firmware-campaign-{action}",
        )
        for action in TRANSITIONS
    ),
    path(
        "nodes/<int:node_id>/firmware/updates/",
        views.node_firmware_updates_fragment,
        name="node-firmware-updates",
    ),
]

API_URLPATTERNS = [
    path("firmware/images/", api.firmware_image_upload, name="firmware-image-upload"),
    path("nodes/<int:pk>/firmware/update/", api.node_firmware_update, name="node-firmware-update"),
    path("firmware/updates/", api.firmware_update_list, name="firmware-update-list"),
    path("firmware/updates/<int:pk>/", api.firmware_update_detail, name="firmware-update-detail"),
    path("firmware/bundles/", bundle_api.firmware_bundle_list, name="firmware-bundle-list"),
    path(
        "firmware/bundles/<int:pk>/",
        bundle_api.firmware_bundle_detail,
        name="firmware-bundle-detail",
    ),
    path(
        "firmware/bundles/<int:pk>/predictions/",
        bundle_api.firmware_bundle_predictions,
        name="firmware-bundle-predictions",
    ),
    path(
        "firmware/campaigns/",
        campaign_api.firmware_campaign_list,
        name="firmware-campaign-list",
    ),
    path(
        "firmware/campaigns/<int:pk>/",
        campaign_api.firmware_campaign_detail,
        name="firmware-campaign-detail",
    ),
    path(
        "firmware/campaigns/<int:pk>/nodes/",
        campaign_api.firmware_campaign_nodes,
        name="firmware-campaign-nodes",
    ),
    *(
        path(
            f"firmware/campaigns/<int:pk>/{action}/",
            view,
            name=f"firmware-campaign-{action}",
        )
        for action, view in campaign_api.firmware_campaign_actions.items()
    ),
]
