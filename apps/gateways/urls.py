from django.urls import path

from apps.gateways import api, views

urlpatterns = [
    path("gateways/", views.gateways, name="gateways"),
    path("gateways/<int:pk>/revoke/", views.gateway_revoke, name="gateway-revoke"),
]

API_URLPATTERNS = [
    path("gateways/", api.gateway_list, name="gateway-list"),
    path("gateways/<int:pk>/revoke/", api.gateway_revoke, name="gateway-revoke"),
]
