"""Planner pages (the comparison API route is in ``API_URLPATTERNS``)."""

from django.urls import path

from apps.planning import api, views

urlpatterns = [
    path("compare/", views.compare, name="compare"),
    path("compare/chart/", views.compare_chart, name="compare-chart"),
    path("compare/csv/", views.compare_csv, name="compare-csv"),
    path("compare/selections/", views.selection_save, name="compare-selection-save"),
]

# Included by heatsite/urls.py into `api_urlpatterns` (namespace "api").
API_URLPATTERNS = [path("compare/", api.compare, name="compare")]
