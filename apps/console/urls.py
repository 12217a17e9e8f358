from django.urls import path

from apps.console import views

urlpatterns = [
    path("nodes/<int:node_id>/console/", views.node_console, name="node-console"),
    path("nodes/<int:node_id>/console/logs/", views.node_console_logs, name="node-console-logs"),
    path(
        "nodes/<int:node_id>/console/logs/<str:name>",
        views.node_console_log,
        name="node-console-log",
    ),
    path(
        "nodes/<int:node_id>/console/logs/<str:name>/download",
        views.node_console_log_download,
        name="node-console-log-download",
    ),
]
