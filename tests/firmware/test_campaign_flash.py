"""A campaign node's flash on lab Redfish BMCs: the whole bundle staged in its apply order with
Redfish ``Targets`` from the inventory, then one reset; a node or image of another SKU, or a
dependency the node would not meet, is refused before anything is staged; at a maintenance
window's end the node in flight finishes and nothing new starts until the next window."""

import io
from datetime import timedelta

from django.core import signing

from apps.attestation.models import NodeConfiguration
from apps.audit.models import AuditEvent
from apps.firmware.campaign_run import campaign_advance
from apps.firmware.campaigns import CampaignNode, MaintenanceWindow
from apps.firmware.image_urls import SALT
from apps.firmware.models import FirmwareImage, FirmwareUpdate
from apps.hardware.models import PowerAction
from tests.firmware.campaign_run_kit import NEW, OLD, versions

INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory"
# no TPM answers in these tests: the attestation step gives up after a minute
QUICK = {"waves": ["rest"], "step_minutes": {"attesting": 1}, "error_threshold_count": 9}


def step_of(cn):
    return CampaignNode.objects.get(pk=cn.pk).step


def test_simple_update_stages_the_whole_bundle_with_targets_then_resets_once(make_world, settings):
    settings.FIRMWARE_IMAGE_BASE_URL = "http://heatsite.invalid"
    world = make_world(per_site=1, sites=1)
    service = world.lab.redfish.service(0)
    sent, check = [], service._check_parameters

    def parameters(body):
        sent.append(dict(body))
        return check(body)

    stored = {}
    for component in world.bundles[NEW].components.select_related("image"):
        with component.image.file.open("rb") as image:
            stored[component.image_id] = image.read()

    def fetch(uri, timeout):  # the BMC's download (its own thread), the signed URL's image
        token = uri.rstrip("/").rsplit("/", 1)[1]
        return io.BytesIO(stored[signing.TimestampSigner(salt=SALT).unsign_object(token)["i"]])

    service._check_parameters = parameters
    service.image_opener = staticmethod(fetch)
    campaign = world.campaign(method="simple", **QUICK)
    (cn,) = campaign.campaign_nodes.all()
    world.drive(campaign, until=lambda c: step_of(cn) == "attesting")

    assert [(b["ImageURI"][:23], b["Targets"]) for b in sent] == [
        ("http://heatsite.invalid", [f"{INVENTORY}/BMC"]),
        ("http://heatsite.invalid", [f"{INVENTORY}/BIOS"]),
    ]  # the bundle's apply order, each aimed at its inventory member
    updates = FirmwareUpdate.objects.filter(node=cn.node).order_by("id")
    assert [(u.image.component, u.target_uri, u.state) for u in updates] == [
        ("BMC", f"{INVENTORY}/BMC", "succeeded"),
        ("BIOS", f"{INVENTORY}/BIOS", "succeeded"),
    ]
    (reset,) = PowerAction.objects.filter(node=cn.node)
    (asked,) = AuditEvent.objects.filter(action="firmware.campaign_reset")
    assert asked.detail["power_action_id"] == reset.pk
    assert sorted(asked.detail["staged_update_ids"]) == [u.pk for u in updates]  # both, before
    assert versions(cn.node)["BIOS"] == NEW
    steps = [e["step"] for e in CampaignNode.objects.get(pk=cn.pk).detail["steps"]]
    assert steps.index("staging") < steps.index("applying") < steps.index("versions")


def refused(world, cn, cause):
    world.drive(world_campaign := cn.campaign, until=lambda c: CampaignNode.objects.get(
        pk=cn.pk).state == "failed")  # fmt: skip
    cn.refresh_from_db()
    assert (cn.state, cn.step, cn.detail["cause"]) == ("failed", "staging", cause), cn.reason
    assert "nothing was staged" in cn.reason
    assert not FirmwareUpdate.objects.filter(node=cn.node).exists()
    assert not PowerAction.objects.filter(node=cn.node).exists()
    assert versions(cn.node)["BIOS"] == OLD
    return world_campaign


def test_an_image_of_another_sku_is_refused_before_staging(make_world):
    world = make_world(per_site=1, sites=1)
    campaign = world.campaign(**QUICK)
    (cn,) = campaign.campaign_nodes.select_related("node", "campaign")
    bios = world.bundles[NEW].components.get(component="BIOS").image
    FirmwareImage.objects.filter(pk=bios.pk).update(sku="HS-OTHER-9")
    refused(world, cn, "sku_mismatch")
    assert "BIOS 1.5.0 image is for SKU HS-OTHER-9" in cn.reason


def test_a_node_that_is_no_longer_of_the_bundles_sku_is_refused_before_staging(make_world):
    world = make_world(per_site=1, sites=1)
    campaign = world.campaign(**QUICK)
    (cn,) = campaign.campaign_nodes.select_related("node", "campaign")
    # re-racked as another model after the plan was approved
    NodeConfiguration.objects.filter(node=cn.node).delete()
    type(cn.node).objects.filter(pk=cn.node_id).update(model="HS-OTHER-9")
    refused(world, cn, "sku_mismatch")
    assert f"{cn.node.name} is SKU HS-OTHER-9" in cn.reason


def test_a_dependency_the_node_would_not_meet_is_refused_before_staging(make_world):
    world = make_world(per_site=1, sites=1)
    bundle = world.bundles[NEW]
    bundle.requires = [
        *bundle.requires,
        {"component": "BIOS", "requires": [{"component": "CPLD", "min_version": "99.0"}]},
    ]
    bundle.save(update_fields=["requires"])
    campaign = world.campaign(**QUICK)
    (cn,) = campaign.campaign_nodes.select_related("node", "campaign")
    refused(world, cn, "requires")
    cpld = versions(cn.node)["CPLD"]
    assert f"BIOS {NEW} requires CPLD ≥ 99.0, but {cn.node.name} would run CPLD {cpld}" in (
        cn.reason
    )


def test_at_a_windows_end_the_node_in_flight_finishes_and_the_next_waits(make_world):
    world = make_world(per_site=2, sites=1)
    site, now = world.sites[0], world.clock.now
    opened = (now - timedelta(minutes=5)).astimezone(site.tzinfo)
    closes = now.astimezone(site.tzinfo) + timedelta(seconds=30)  # mid-way through the flash
    MaintenanceWindow.objects.create(
        site=site,
        weekday=opened.weekday(),
        start=opened.time().replace(microsecond=0),
        end=closes.time().replace(microsecond=0),
    )
    campaign = world.campaign(**QUICK)
    first, second = campaign.campaign_nodes.order_by("id")
    world.step(campaign)
    first.refresh_from_db()
    assert first.state == "running" and first.step == "staging"  # started inside the window
    world.drive(campaign, until=lambda c: world.clock.now >= closes + timedelta(seconds=10))
    first.refresh_from_db()
    assert first.state == "running" and first.step in ("staging", "applying")  # mid-flash
    # past the window's end: the flash is never cut, it goes on to its reset and read-back
    world.drive(campaign, until=lambda c: CampaignNode.objects.get(pk=first.pk).state != "running")
    first.refresh_from_db()
    assert first.detail["cause"] == "timeout" and first.step == "attesting"  # no TPM here
    assert versions(first.node)["BIOS"] == NEW
    assert first.finished_at > closes
    # the second node waits for the next window (a week later), the campaign says why
    world.step(campaign)
    campaign.refresh_from_db()
    second.refresh_from_db()
    assert second.state == "pending" and second.started_at is None
    assert "outside its maintenance windows (next opens" in campaign.reason
    nxt = opened + timedelta(days=7, minutes=1)
    campaign_advance(campaign.pk, now=nxt)
    second.refresh_from_db()
    assert second.state == "running" and second.started_at == nxt
