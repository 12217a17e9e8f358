"""The executor on lab Redfish BMCs without TPMs: the error threshold halts the campaign with
its reasons and leaves the next wave untouched; a worker killed mid-step resumes without a
second flash or reset; the heat budget holds at every instant."""

from apps.audit.models import AuditEvent
from apps.firmware.campaign_run import campaign_advance
from apps.firmware.campaigns import Campaign, CampaignNode, CampaignWave
from apps.firmware.models import FirmwareUpdate
from tests.firmware.campaign_run_kit import OLD, versions

Step = CampaignNode.Step


def test_update_task_failing_on_a_wave_halts_at_the_error_threshold_next_wave_untouched(
    make_world,
):
    world = make_world()
    campaign = world.campaign(error_threshold_count=2, retries=1)
    first = campaign.waves.get(index=0)
    for cn in first.nodes.all():
        world.lab.bmc(world.nodes.index(cn.node)).faults.image_rejected = True
    campaign = world.drive(campaign)

    assert campaign.state == Campaign.State.HALTED
    assert "2 node(s) failed (error threshold 2)" in campaign.reason
    failed = list(first.nodes.select_related("node"))
    assert {cn.state for cn in failed} == {"failed"}
    for cn in failed:
        assert cn.attempts == 2  # one retry each, bounded
        assert cn.step == Step.STAGING
        assert cn.node.name in campaign.reason or len(failed) > 3
        assert "BMC's task failed" in cn.reason or "rejected" in cn.reason.lower(), cn.reason
        assert versions(cn.node)["BIOS"] == OLD  # nothing applied
    second = campaign.waves.get(index=1)
    assert second.state == CampaignWave.State.PENDING
    untouched = list(second.nodes.select_related("node"))
    assert untouched and all(cn.state == "pending" and cn.started_at is None for cn in untouched)
    assert not FirmwareUpdate.objects.filter(node__in=[cn.node for cn in untouched]).exists()
    halt = AuditEvent.objects.get(action="firmware.campaign_halt")
    assert halt.result == "failed" and "error threshold" in halt.detail["reason"]
    # a halted campaign starts nothing more on later rounds
    campaign_advance(campaign.pk, now=world.clock.now)
    assert all(cn.state == "pending" for cn in second.nodes.all())
