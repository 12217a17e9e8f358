"""Firmware compliance (page, CSV, API) and "make desired": compliance spans every site, so
partners never learn it exists (404, like campaigns); making a bundle desired is a bundle
action (partners and planners 403, like every bundle route)."""

from django.urls import reverse

from apps.attestation.models import PlatformProfile
from apps.firmware.models import FirmwareBundle
from tests.routes.common import API_HARDWARE, HARDWARE, LOGIN, Route, own

COMPLIANCE_PAGE = {
    "anonymous": LOGIN,
    "partner": 404,
    "planner": 403,
    "engineer": 200,
    "admin": 200,
}
API_COMPLIANCE = {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 200, "admin": 200}


def extra_objects(objects):
    profile, _ = PlatformProfile.objects.get_or_create(sku="HS-ROUTES-DESIRED")
    bundle = FirmwareBundle.objects.create(
        profile=profile,
        version="9.9.9",
        manifest={},
        manifest_sha256="c0de" * 16,
        measurement_source="artefacts",
        signature_alg="ed25519",
        signature_key_id="routes",
        signature_key_sha256="ef" * 32,
        signature="",
    )
    return {"desired_bundle": bundle}


ROUTES: dict[str, Route] = {
    "firmware-compliance": Route(lambda o: reverse("firmware-compliance"), COMPLIANCE_PAGE),
    "firmware-compliance-csv": Route(lambda o: reverse("firmware-compliance-csv"), COMPLIANCE_PAGE),
    "api:firmware-compliance": Route(lambda o: reverse("api:firmware-compliance"), API_COMPLIANCE),
    "firmware-bundle-desired": Route(
        own("firmware-bundle-desired", "desired_bundle"),
        HARDWARE | {"engineer": 302, "admin": 302},
        method="post",
    ),
    "api:firmware-bundle-desired": Route(
        own("api:firmware-bundle-desired", "desired_bundle"), API_HARDWARE, method="post"
    ),
}
