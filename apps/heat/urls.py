"""Heat pages and fragments (the heat API routes are listed in ``API_URLPATTERNS``)."""

from django.urls import path

from apps.heat import api, views

urlpatterns = [
    path("sites/<int:site_id>/heat/chart/", views.site_heat_chart, name="heat-chart"),
    path("sites/<int:site_id>/heat/summary/", views.site_heat_summary, name="heat-summary"),
    path("sites/<int:site_id>/heat/alarms/", views.site_heat_alarms, name="heat-alarms"),
    path("sites/<int:site_id>/heat/statements/", views.statement_list, name="heat-statements"),
    path(
        "sites/<int:site_id>/heat/statements/<str:month>/",
        views.statement_detail,
        name="heat-statement",
    ),
    path(
        "sites/<int:site_id>/heat/statements/<str:month>/csv/",
        views.statement_csv,
        name="heat-statement-csv",
    ),
    path(
        "sites/<int:site_id>/heat/statements/<str:month>/pdf/",
        views.statement_pdf,
        name="heat-statement-pdf",
    ),
]

# Included by heatsite/urls.py into `api_urlpatterns` (namespace "api").
API_URLPATTERNS = [
    path("sites/<int:pk>/heat/", api.site_heat, name="site-heat"),
    path("sites/<int:pk>/heat/statement/", api.site_heat_statement, name="site-heat-statement"),
]
