from allauth.account import views as allauth_views
from django.urls import path
from django.views.i18n import JavaScriptCatalog

from apps.accounts import views
from apps.core.views import favicon

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    # allauth's login (password, then the second factor) and logout, at the URLs users know.
    path("login/", allauth_views.login, name="login"),
    path("logout/", allauth_views.logout, name="logout"),
    path("account/", views.account, name="account"),
    path("account/language/", views.language_set, name="language-set"),
    # The JavaScript strings (static/js/*.js call gettext/interpolate) of the active language.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
]
