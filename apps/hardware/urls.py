from django.urls import path

from apps.hardware import views, views_bios

urlpatterns = [
    path("nodes/<int:node_id>/power/confirm/", views.node_power_confirm, name="node-power-confirm"),
    path("nodes/<int:node_id>/power/", views.node_power, name="node-power"),
    path("nodes/<int:node_id>/boot-device/", views.node_boot_device, name="node-boot-device"),
    path("nodes/<int:node_id>/refresh/", views.node_details_refresh, name="node-refresh"),
    path(
        "nodes/<int:node_id>/bmc-certificate/accept/",
        views.node_certificate_accept,
        name="node-bmc-certificate-accept",
    ),
    path("nodes/<int:node_id>/actions/", views.node_actions_fragment, name="node-actions"),
    path("nodes/<int:node_id>/bios/edit/", views_bios.node_bios_edit, name="node-bios-edit"),
    path("nodes/<int:node_id>/bios/diff/", views_bios.node_bios_diff, name="node-bios-diff"),
    path("nodes/<int:node_id>/bios/", views_bios.node_bios_change, name="node-bios-change"),
    path(
        "nodes/<int:node_id>/bmc-password/",
        views.node_bmc_password_fragment,
        name="node-bmc-password",
    ),
    path(
        "nodes/<int:node_id>/bmc-password/confirm/",
        views.node_bmc_password_confirm,
        name="node-bmc-password-confirm",
    ),
    path(
        "nodes/<int:node_id>/bmc-password/rotate/",
        views.node_bmc_password_rotate,
        name="node-bmc-password-rotate",
    ),
    path("sites/<int:site_id>/power/confirm/", views.site_power_confirm, name="site-power-confirm"),
    path("sites/<int:site_id>/power/", views.site_power, name="site-power"),
    path("power-batches/<int:batch_id>/", views.power_batch_progress, name="power-batch"),
]
