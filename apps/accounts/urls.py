from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import views
from apps.core.views import favicon

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/", views.account, name="account"),
    path("account/token/", views.token_regenerate, name="token-regenerate"),
    path("account/token/revoke/", views.token_revoke, name="token-revoke"),
]
