from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from apps.attestation.urls import API_URLPATTERNS as attestation_api_urlpatterns
from apps.core.api import TokenView
from apps.firmware.compliance_urls import API_URLPATTERNS as compliance_api_urlpatterns
from apps.firmware.urls import API_URLPATTERNS as firmware_api_urlpatterns
from apps.gateways.urls import API_URLPATTERNS as gateways_api_urlpatterns
from apps.hardware import api as hardware_api
from apps.hardware import api_bios as hardware_bios_api
from apps.hardware import api_bmc as hardware_bmc_api
from apps.heat.urls import API_URLPATTERNS as heat_api_urlpatterns
from apps.planning.urls import API_URLPATTERNS as planning_api_urlpatterns
from apps.sites import api as sites_api
from apps.tokens.urls import API_URLPATTERNS as tokens_api_urlpatterns

router = DefaultRouter()
router.register("sites", sites_api.SiteViewSet, basename="site")
router.register("nodes", sites_api.NodeViewSet, basename="node")
router.register("meters", sites_api.MeterViewSet, basename="meter")
router.register("power-actions", hardware_api.PowerActionViewSet, basename="power-action")

api_urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:api-schema"), name="api-docs"),
    path("nodes/<int:pk>/power/", hardware_api.node_power, name="node-power"),
    path("nodes/<int:pk>/boot-device/", hardware_api.node_boot_device, name="node-boot-device"),
    path(
        "nodes/<int:pk>/bmc-certificate/accept/",
        hardware_bmc_api.node_certificate_accept,
        name="node-bmc-certificate-accept",
    ),
    path("nodes/<int:pk>/refresh/", hardware_bmc_api.node_refresh, name="node-refresh"),
    path(
        "nodes/<int:pk>/bmc-password/rotate/",
        hardware_bmc_api.node_bmc_password_rotate,
        name="node-bmc-password-rotate",
    ),
    path("nodes/<int:pk>/firmware/", hardware_bmc_api.node_firmware, name="node-firmware"),
    path("nodes/<int:pk>/bios/", hardware_bios_api.node_bios, name="node-bios"),
    path("nodes/<int:pk>/bmc-log/", hardware_bios_api.node_bmc_log, name="node-bmc-log"),
    path("sites/<int:pk>/power/", hardware_api.site_power, name="site-power"),
    path("power-batches/<int:pk>/", hardware_api.power_batch_detail, name="power-batch-detail"),
    *heat_api_urlpatterns,
    *planning_api_urlpatterns,
    *attestation_api_urlpatterns,
    *firmware_api_urlpatterns,
    *compliance_api_urlpatterns,
    *tokens_api_urlpatterns,
    *gateways_api_urlpatterns,
    path("", include(router.urls)),
]

urlpatterns = [
    path("", include("apps.accounts.urls")),
    path("", include("apps.sites.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.hardware.urls")),
    path("", include("apps.console.urls")),
    path("", include("apps.heat.urls")),
    path("", include("apps.attestation.urls")),
    path("", include("apps.planning.urls")),
    path("", include("apps.firmware.urls")),
    path("", include("apps.firmware.compliance_urls")),
    path("", include("apps.identity.urls")),
    path("", include("apps.tokens.urls")),
    path("", include("apps.mailings.urls")),
    path("", include("apps.ops.urls")),
    path("", include("apps.gateways.urls")),
    path("api/v1/", include((api_urlpatterns, "api"))),
    # allauth: second factors (enrolment, authentication), re-authentication, password reset,
    # user sessions (apps.identity).
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "apps.core.views.bad_request"
handler403 = "apps.core.views.permission_denied"
handler404 = "apps.core.views.page_not_found"
handler500 = "apps.core.views.server_error"
