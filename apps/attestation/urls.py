from django.urls import path

from apps.attestation import api, views

urlpatterns = [
    path("nodes/<int:node_id>/attestation/", views.node_attestation, name="node-attestation"),
    path("nodes/<int:node_id>/attestation/attest/", views.node_attest, name="node-attest"),
    path("nodes/<int:node_id>/attestation/enrol/", views.node_enrol, name="node-enrol"),
    path("attestations/<int:attestation_id>/", views.attestation_detail, name="attestation-detail"),
    path("firmware/", views.firmware_releases, name="firmware-releases"),
    path("firmware/<int:release_id>/", views.firmware_release, name="firmware-release"),
]

# Mounted under /api/v1/ (namespace "api") by heatsite/urls.py.
API_URLPATTERNS = [
    path("nodes/<int:pk>/attestation/", api.node_attestation, name="node-attestation"),
    path(
        "nodes/<int:pk>/attestation/prediction/",
        api.node_prediction,
        name="node-attestation-prediction",
    ),
]
