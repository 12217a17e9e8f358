"""Rollback through the same gates as the rollout: bounded retries and the error threshold,
which halts a rollback that keeps failing with its reasons (the heat budget on the way back is
asserted in test_campaign_run_attested.py); a resume goes on rolling back (never forward again)
and tries the failed nodes again."""

from apps.audit.models import AuditEvent
from apps.firmware.campaign_run import campaign_advance
from apps.firmware.campaign_services import campaign_transition
from apps.firmware.campaigns import Campaign, CampaignNode
from apps.firmware.models import FirmwareUpdate
from tests.firmware.campaign_run_kit import NEW, versions


def test_a_rollback_that_keeps_failing_halts_at_the_error_threshold_with_its_reasons(make_world):
    world = make_world(per_site=1, sites=3)
    # no TPM answers: every flashed node fails at the attestation step (1 min), so the rollout
    # halts after two nodes, both flashed; the third is never started
    campaign = world.campaign(
        waves=["rest"],
        max_parallel=1,
        retries=1,
        error_threshold_count=2,
        step_minutes={"attesting": 1},
    )
    campaign = world.drive(campaign)
    assert campaign.state == Campaign.State.HALTED, campaign.reason
    flashed = list(campaign.campaign_nodes.filter(started_at__isnull=False).select_related("node"))
    assert len(flashed) == 2
    for cn in flashed:
        assert versions(cn.node)["BIOS"] == NEW
        world.lab.bmc(world.nodes.index(cn.node)).faults.image_rejected = True  # no way back

    campaign_transition(campaign_id=campaign.pk, action="rollback", actor=world.engineer)
    campaign = world.drive(campaign)
    assert campaign.state == Campaign.State.HALTED
    assert campaign.reason.startswith("Halted the rollback: 2 node(s) failed (error threshold 2).")
    for cn in campaign.campaign_nodes.filter(phase="rollback").select_related("node"):
        assert (cn.state, cn.step, cn.attempts) == ("failed", "staging", 2)  # one retry each
        assert "rejected" in cn.reason.lower()
        assert cn.node.name in campaign.reason
        assert versions(cn.node)["BIOS"] == NEW  # nothing applied, nothing reset
        assert cn.power_action_id is None
    (untouched,) = campaign.campaign_nodes.exclude(phase="rollback")
    assert untouched.state == "skipped" and untouched.started_at is None
    assert not FirmwareUpdate.objects.filter(node=untouched.node).exists()
    halt = AuditEvent.objects.filter(action="firmware.campaign_halt").latest("id")
    assert halt.result == "failed" and "Halted the rollback" in halt.detail["reason"]
    # halted: later rounds start nothing
    campaign_advance(campaign.pk, now=world.clock.now)
    assert not campaign.campaign_nodes.filter(state__in=("pending", "running")).exists()

    # the resume goes on rolling back and tries the failed nodes again (the fault is gone)
    for i in range(3):
        world.lab.bmc(i).faults.image_rejected = False
    campaign = campaign_transition(
        campaign_id=campaign.pk, action="resume", actor=world.engineer, note="BMCs fixed"
    )
    assert campaign.state == Campaign.State.ROLLING_BACK
    world.step(campaign)
    nodes = CampaignNode.objects.filter(campaign=campaign, phase="rollback")
    assert sorted(nodes.values_list("state", flat=True)) == ["pending", "running"]
    assert nodes.get(state="running").attempts == 1
