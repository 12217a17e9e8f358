"""Firmware routes (issue 11): engineers manage firmware; admins too, but an OnReset update
ends in a power action only engineers may cause; the image link takes a token, not a login."""

from django.urls import reverse

from apps.attestation.models import PlatformProfile
from apps.firmware.models import Campaign, FirmwareBundle, FirmwareImage, FirmwareUpdate
from apps.sites.models import Node
from tests.factories import NodeFactory
from tests.routes.common import API_HARDWARE, API_NODE, HARDWARE, LOGIN, Route, own


def extra_objects(objects):
    image = FirmwareImage.objects.create(
        component="BIOS",
        version="3.0.7",
        sku="HX-500-WC",
        sha256="ab" * 32,
        size=10,
        file="bios/route-matrix.bin",
    )
    redfish_node = NodeFactory(site=objects["site"], bmc_protocol=Node.BmcProtocol.REDFISH)
    update = FirmwareUpdate.objects.create(
        node=objects["node"],
        image=image,
        method=FirmwareUpdate.Method.PUSH,
        target_version=image.version,
        state=FirmwareUpdate.State.SUCCEEDED,
    )
    bundle = FirmwareBundle.objects.create(
        profile=PlatformProfile.objects.create(sku="HX-500-WC"),
        version="3.0.7",
        manifest={},
        manifest_sha256="cd" * 32,
        measurement_source="artefacts",
        release_version="3.0.7",
        signature_alg="ed25519",
        signature_key_id="route-matrix",
        signature_key_sha256="ef" * 32,
        signature="",
    )
    campaign = Campaign.objects.create(bundle=bundle, name="route matrix")  # created by the CLI
    return {
        "firmware_campaign": campaign,
        "firmware_image": image,
        "redfish_node": redfish_node,
        "firmware_update": update,
        "firmware_bundle": bundle,
    }


def _update_body(role, users):
    return {"image": FirmwareImage.objects.get(sha256="ab" * 32).pk, "method": "push"}


CAMPAIGN_PAGE = {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200}
API_CAMPAIGN = {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 200, "admin": 200}

ROUTES: dict[str, Route] = {
    # A BMC has no login: a token that is not a valid signature is 403 for everyone.
    "firmware-image": Route(
        lambda o: reverse("firmware-image", args=["not-a-token"]),
        {"anonymous": 403, "partner": 403, "planner": 403, "engineer": 403, "admin": 403},
    ),
    "node-firmware-updates": Route(
        own("node-firmware-updates", "node"),
        {"anonymous": LOGIN, "partner": 404, "planner": 403, "engineer": 200, "admin": 200},
    ),
    # The matrix posts JSON: the upload takes multipart only (415) once the role may upload.
    "api:firmware-image-upload": Route(
        lambda o: reverse("api:firmware-image-upload"),
        {"anonymous": 401, "partner": 403, "planner": 403, "engineer": 415, "admin": 415},
        method="post",
    ),
    "api:node-firmware-update": Route(
        own("api:node-firmware-update", "redfish_node"),
        {"anonymous": 401, "partner": 404, "planner": 403, "engineer": 202, "admin": 403},
        method="post",
        data=_update_body,
    ),
    "api:firmware-update-list": Route(lambda o: reverse("api:firmware-update-list"), API_HARDWARE),
    # Bundles belong to no site: roles without "manage firmware" get 403, partners included.
    "firmware-bundles": Route(lambda o: reverse("firmware-bundles"), HARDWARE),
    "firmware-bundle": Route(own("firmware-bundle", "firmware_bundle"), HARDWARE),
    "api:firmware-bundle-list": Route(lambda o: reverse("api:firmware-bundle-list"), API_HARDWARE),
    "api:firmware-bundle-detail": Route(
        own("api:firmware-bundle-detail", "firmware_bundle"), API_HARDWARE
    ),
    "api:firmware-bundle-predictions": Route(
        own("api:firmware-bundle-predictions", "firmware_bundle"), API_HARDWARE
    ),
    # Campaigns span sites: partners never learn they exist (404), planners 403. The matrix's
    # campaign was created from the command line, so any engineer or admin may approve it.
    "firmware-campaigns": Route(lambda o: reverse("firmware-campaigns"), CAMPAIGN_PAGE),
    "firmware-campaign-new": Route(lambda o: reverse("firmware-campaign-new"), CAMPAIGN_PAGE),
    "firmware-campaign": Route(own("firmware-campaign", "firmware_campaign"), CAMPAIGN_PAGE),
    "api:firmware-campaign-list": Route(
        lambda o: reverse("api:firmware-campaign-list"), API_CAMPAIGN
    ),
    "api:firmware-campaign-detail": Route(
        own("api:firmware-campaign-detail", "firmware_campaign"), API_CAMPAIGN
    ),
    "api:firmware-campaign-nodes": Route(
        own("api:firmware-campaign-nodes", "firmware_campaign"), API_CAMPAIGN
    ),
    "api:firmware-update-detail": Route(
        own("api:firmware-update-detail", "firmware_update"), API_NODE
    ),
}

# The lifecycle actions, page and API: on the matrix's planned campaign only approve is allowed
# (the others are 409 in the API, a redirect with the reason on the page).
for _action in ("approve", "start", "pause", "resume", "abort", "rollback"):
    _ok = _action in ("approve", "abort")
    ROUTES[f"firmware-campaign-{_action}"] = Route(
        own(f"firmware-campaign-{_action}", "firmware_campaign"),
        CAMPAIGN_PAGE | {"engineer": 302, "admin": 302},
        method="post",
    )
    ROUTES[f"api:firmware-campaign-{_action}"] = Route(
        own(f"api:firmware-campaign-{_action}", "firmware_campaign"),
        API_CAMPAIGN | ({} if _ok else {"engineer": 409, "admin": 409}),
        method="post",
    )

# The executor's live progress of a campaign: as its page (partners 404, planners 403).
WS_ROUTES = {
    "ws-campaign": (
        lambda o: f"/ws/campaigns/{o['firmware_campaign'].pk}/",
        {"anonymous": 4401, "partner": 4404, "planner": 4403, "engineer": "ok", "admin": "ok"},
        None,
    ),
}
