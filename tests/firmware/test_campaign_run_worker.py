"""A campaign driven by a real Celery worker (prefork, Redis), as the beat drives it: rounds of
`campaign_advance` sent to the worker's own queue, the reset's power action run by the same
worker, the node's lab TPM quoted over loopback. The worker's pool process is SIGKILLed while
the node's first component is being flashed: the round is redelivered (acks_late) or the next
one picks the node up from the database, and no component is flashed, nor the node reset,
twice."""

import os
import signal
import uuid

import pytest

from apps.firmware.campaigns import Campaign, CampaignNode
from apps.firmware.models import FirmwareUpdate
from apps.firmware.tasks import campaign_advance
from apps.hardware.models import PowerAction
from apps.lab.tpm.node import start_fleet
from tests.celery_worker import WORKER_OWN_QUEUE as WORKER
from tests.celery_worker import celery_worker, database_url, pool_children, wait_for
from tests.firmware.campaign_run_kit import NEW, versions, with_tpms

QUEUE = f"heatsite-test-campaign-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(django_db_blocker, settings):
    with django_db_blocker.unblock():
        url = database_url()
    env = {"FIRMWARE_POLL_MAX": "1", "FIRMWARE_IMAGE_ROOT": str(settings.FIRMWARE_IMAGE_ROOT)}
    with celery_worker(WORKER, QUEUE, database=url, env=env) as proc:
        yield proc


@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_campaign_survives_a_killed_worker_and_completes_attested(make_world, worker, tmp_path):
    world = make_world(per_site=1, sites=1)
    fleet = start_fleet(1, tmp_path / "tpm")
    try:
        with_tpms(world, fleet)
        campaign = world.campaign(waves=["rest"])
        (cn,) = campaign.campaign_nodes.all()
        killed = []

        def beat_round():
            """What the beat does: one round to the worker; done when it stamped the campaign
            (or, after a kill, when the redelivered or next round did)."""
            before = Campaign.objects.get(pk=campaign.pk).advanced_at
            campaign_advance.apply_async((campaign.pk,), queue=QUEUE)
            if not killed and FirmwareUpdate.objects.filter(node=cn.node, state="running"):
                for child in pool_children(worker.pid):
                    os.kill(child, signal.SIGKILL)
                killed.append(True)
                campaign_advance.apply_async((campaign.pk,), queue=QUEUE)
            wait_for(
                lambda: Campaign.objects.get(pk=campaign.pk).advanced_at != before,
                "a campaign round",
            )
            world.lab_clock.advance(20)  # the lab BMCs' update tasks move on

        for _ in range(200):
            beat_round()
            campaign.refresh_from_db()
            if campaign.state != "running":
                break
        assert killed, "the worker was never killed mid-flash"
        cn.refresh_from_db()
        assert campaign.state == "completed", (campaign.reason, cn.reason)
        assert (cn.state, cn.step) == ("succeeded", CampaignNode.Step.DONE)
        updates = FirmwareUpdate.objects.filter(node=cn.node)
        components = [u.image.component for u in updates]
        assert len(components) == len(set(components))  # none flashed twice
        assert all(u.state == "succeeded" for u in updates)
        assert len(components) == 2  # BMC and BIOS staged...
        assert PowerAction.objects.filter(node=cn.node).count() == 1  # ...for one reset
        bios = world.bundles[NEW].components.get(component="BIOS").version
        assert versions(cn.node)["BIOS"] == bios
    finally:
        fleet.stop()
