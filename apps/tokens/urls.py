from django.urls import path

from apps.tokens import api, views

urlpatterns = [
    path("account/tokens/new/", views.token_create, name="token-create"),
    path("account/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
]

API_URLPATTERNS = [
    path("tokens/", api.token_list, name="token-list"),
    path("tokens/<int:pk>/", api.token_detail, name="token-detail"),
]
