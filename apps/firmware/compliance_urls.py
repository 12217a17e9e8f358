"""Routes of the compliance view and the desired bundle (kept beside `apps.firmware.urls`)."""

from django.urls import path

from apps.firmware import compliance_api, compliance_views

urlpatterns = [
    path("firmware/compliance/", compliance_views.compliance, name="firmware-compliance"),
    path(
        "firmware/compliance.csv", compliance_views.compliance_csv, name="firmware-compliance-csv"
    ),
    path(
        "firmware/bundles/<int:pk>/desired/",
        compliance_views.bundle_make_desired,
        name="firmware-bundle-desired",
    ),
]

API_URLPATTERNS = [
    path("firmware/compliance/", compliance_api.firmware_compliance, name="firmware-compliance"),
    path(
        "firmware/bundles/<int:pk>/desired/",
        compliance_api.firmware_bundle_desired,
        name="firmware-bundle-desired",
    ),
]
