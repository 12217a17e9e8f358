from django.urls import path

from apps.sites import views

urlpatterns = [
    path("sites/", views.fleet, name="fleet"),
    path("sites/<int:site_id>/", views.site_detail, name="site-detail"),
    path("sites/<int:site_id>/nodes/", views.site_nodes_fragment, name="site-nodes"),
    path("nodes/<int:node_id>/", views.node_detail, name="node-detail"),
]
