from django.urls import path

from apps.identity import reauth, views

urlpatterns = [
    path("account/reauth/", reauth.reauth, name="reauth"),
    path("account/sessions/", views.session_list, name="sessions"),
    path("account/sessions/end-others/", views.session_end_others, name="sessions-end-others"),
    path("account/sessions/<int:pk>/end/", views.session_end, name="session-end"),
    path("lockouts/", views.lockouts, name="lockouts"),
]
