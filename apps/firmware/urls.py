from django.urls import path

from apps.firmware import api, views

urlpatterns = [
    path("firmware/images/<str:token>/", views.firmware_image, name="firmware-image"),
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
]
