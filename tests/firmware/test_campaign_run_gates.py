"""The executor on lab Redfish BMCs without TPMs: the error threshold halts the campaign with
its reasons and leaves the next wave untouched; a worker killed mid-step resumes without a
second flash or reset; the heat budget holds at every instant."""

from apps.audit.models import AuditEvent
from apps.firmware.campaign_run import campaign_advance
from apps.firmware.campaigns import Campaign, CampaignNode, CampaignWave
from apps.firmware.models import FirmwareUpdate
from apps.hardware.models import PowerAction
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


def test_advance_again_after_a_partial_step_never_flashes_or_resets_twice(make_world):
    world = make_world(per_site=1, sites=1)
    campaign = world.campaign(waves=["rest"])
    (cn,) = campaign.campaign_nodes.all()
    node_updates = FirmwareUpdate.objects.filter(node=cn.node)
    actions = PowerAction.objects.filter(node=cn.node)

    def first_staged(c):
        return node_updates.filter(state=FirmwareUpdate.State.STAGED).exists()

    world.drive(campaign, until=first_staged)
    # killed after the BMC staged the first component but before the node recorded it: the
    # next rounds find it staged and send the next component, never the first one again
    CampaignNode.objects.filter(pk=cn.pk).update(update=None)

    def reset_asked(c):
        return CampaignNode.objects.get(pk=cn.pk).power_action_id is not None

    world.hold_power = True  # the power worker is down: the reset stays queued
    world.drive(campaign, until=reset_asked)
    cn.refresh_from_db()
    assert cn.step == Step.APPLYING and actions.count() == 1
    staged = node_updates.filter(state=FirmwareUpdate.State.STAGED)
    assert sorted(staged.values_list("image__component", flat=True)) == ["BIOS", "BMC"]
    assert versions(cn.node)["BIOS"] == OLD  # staged, not applied before the reset
    # the worker dies and the beat hands the campaign to another, several times, before the
    # power worker ran the reset: nothing is asked twice
    for _ in range(3):
        campaign_advance(campaign.pk, now=world.clock.now)
    assert actions.count() == 1
    world.hold_power = False
    world.drive(campaign, until=lambda c: CampaignNode.objects.get(pk=cn.pk).step == "versions")
    # killed after the reset but before the node recorded it: rewound to applying, then to
    # staging, it follows the reset it asked for and finds every component already there
    CampaignNode.objects.filter(pk=cn.pk).update(step=Step.APPLYING)
    world.drive(campaign, until=lambda c: CampaignNode.objects.get(pk=cn.pk).step == "versions")
    CampaignNode.objects.filter(pk=cn.pk).update(step=Step.STAGING)
    world.drive(campaign, until=lambda c: CampaignNode.objects.get(pk=cn.pk).step == "attesting")
    per_component = {}
    for update in node_updates:
        per_component.setdefault(update.image.component, []).append(update.state)
    assert per_component == {"BMC": ["succeeded"], "BIOS": ["succeeded"]}, per_component
    assert actions.count() == len(world.resets) == 1  # one reset for the whole bundle
    assert AuditEvent.objects.filter(action="firmware.campaign_reset").count() == 1


def test_stalled_paused_and_windows(make_world):
    from datetime import timedelta

    from apps.firmware.campaign_run import campaign_stalled
    from apps.firmware.campaign_services import campaign_transition
    from apps.firmware.campaigns import MaintenanceWindow

    world = make_world(per_site=1, sites=1)
    site = world.sites[0]
    now = world.clock.now
    # a window that is not open now: nothing starts, the campaign says why
    opens = (now + timedelta(hours=2)).astimezone(site.tzinfo)
    MaintenanceWindow.objects.create(
        site=site,
        weekday=opens.weekday(),
        start=opens.time().replace(second=0, microsecond=0),
        end=(opens + timedelta(hours=1)).time().replace(second=0, microsecond=0),
    )
    campaign = world.campaign(waves=["rest"])
    assert campaign_advance(campaign.pk, now=now) == "running"
    campaign.refresh_from_db()
    (cn,) = campaign.campaign_nodes.all()
    assert cn.state == "pending" and "outside its maintenance windows" in campaign.reason
    assert not campaign_stalled(campaign, now + timedelta(seconds=60))
    assert campaign_stalled(campaign, now + timedelta(minutes=10))  # no round since: stalled
    # paused: even inside the window nothing new starts
    campaign_transition(campaign_id=campaign.pk, action="pause", actor=world.engineer)
    campaign_advance(campaign.pk, now=now + timedelta(hours=2, minutes=5))
    cn.refresh_from_db()
    assert cn.state == "pending"
    campaign.refresh_from_db()
    assert not campaign_stalled(campaign, now + timedelta(hours=5))  # paused is not stalled
    campaign_transition(campaign_id=campaign.pk, action="resume", actor=world.engineer)
    campaign_advance(campaign.pk, now=now + timedelta(hours=2, minutes=6))
    cn.refresh_from_db()
    assert cn.state == "running" and cn.step == Step.STAGING


def test_the_beat_hands_live_campaigns_to_workers(make_world, monkeypatch):
    from apps.firmware import tasks
    from apps.firmware.campaign_services import campaign_transition
    from heatsite.celery import app, setup_periodic_tasks

    # The schedule lists only tasks registered when the app was finalised: whether this process
    # had imported the firmware tasks by then depends on test order, so build it again now.
    setup_periodic_tasks(app)
    entry = app.conf.beat_schedule["campaigns-advance-all"]
    assert entry["task"] == "apps.firmware.tasks.campaigns_advance_all"
    assert entry["task"] in app.tasks and tasks.campaign_advance.acks_late

    world = make_world(per_site=1, sites=1)
    campaign = world.campaign(waves=["rest"])
    queued = []
    monkeypatch.setattr(tasks.campaign_advance, "delay", queued.append)
    assert tasks.campaigns_advance_all() == 1 and queued == [campaign.pk]
    world.step(campaign)  # a node in flight
    campaign_transition(campaign_id=campaign.pk, action="pause", actor=world.engineer)
    queued.clear()
    assert tasks.campaigns_advance_all() == 1  # paused with a node in flight: it finishes
    CampaignNode.objects.filter(campaign=campaign).update(state="failed")
    queued.clear()
    assert tasks.campaigns_advance_all() == 0 and queued == []  # paused, nothing in flight


def test_a_campaign_whose_worker_is_gone_shows_stalled_in_the_api_and_page(make_world, client):
    from datetime import timedelta

    from django.urls import reverse

    world = make_world(per_site=1, sites=1)
    campaign = world.campaign(waves=["rest"])
    client.force_login(world.engineer)
    api = reverse("api:firmware-campaign-detail", args=[campaign.pk])
    page = reverse("firmware-campaign", args=[campaign.pk])
    campaign_advance(campaign.pk)  # a round just now
    assert client.get(api).json()["stalled"] is False
    assert 'data-testid="campaign-stalled"' not in client.get(page).content.decode()
    Campaign.objects.filter(pk=campaign.pk).update(
        advanced_at=campaign.started_at - timedelta(minutes=10)
    )
    body = client.get(api).json()
    assert (body["state"], body["stalled"]) == ("running", True)
    assert 'data-testid="campaign-stalled"' in client.get(page).content.decode()


def test_percentage_error_threshold_waits_for_its_minimum_sample_and_resume_acknowledges(
    make_world,
):
    from apps.firmware.campaign_run import _error_gate
    from apps.firmware.campaign_services import campaign_transition

    world = make_world(per_site=2, sites=2)
    campaign = world.campaign(
        waves=["rest"], error_threshold_count=None, error_threshold_pct=50, error_min_sample=3
    )
    a, b, c, _ = campaign.campaign_nodes.order_by("id")
    now = world.clock.now
    CampaignNode.objects.filter(pk=a.pk).update(
        state="failed", reason="boom", finished_at=now, attempts=1
    )
    CampaignNode.objects.filter(pk=b.pk).update(state="succeeded", finished_at=now)
    assert _error_gate(campaign) == ""  # 1 of 2: below the minimum sample of 3
    CampaignNode.objects.filter(pk=c.pk).update(
        state="failed", reason="bang", finished_at=now, attempts=1
    )
    why = _error_gate(campaign)
    assert why.startswith("Halted: 2/3 nodes failed (67 % ≥ 50 %).")
    assert f"{a.node.name}: boom" in why
    campaign_advance(campaign.pk, now=now)
    campaign.refresh_from_db()
    assert campaign.state == "halted" and campaign.reason == why
    campaign_transition(
        campaign_id=campaign.pk, action="resume", actor=world.engineer, note="known flaky"
    )
    campaign.refresh_from_db()
    assert _error_gate(campaign) == ""  # the failures seen were acknowledged


def test_the_heat_percentage_caps_how_many_nodes_of_a_site_go_down(make_world):
    world = make_world(per_site=3, sites=1)
    campaign = world.campaign(waves=["rest"], max_down_per_site=3, max_site_loss_pct=40)
    campaign_advance(campaign.pk, now=world.clock.now)
    running = campaign.campaign_nodes.filter(state="running")
    assert running.count() == 1  # 300 W of 900 W is 33 %; two would be 67 %
    # the running node's draw counts for every campaign at the site: raising the cap to 70 %
    # lets exactly one more start
    strategy = {**campaign.strategy, "max_site_loss_pct": 70}
    Campaign.objects.filter(pk=campaign.pk).update(strategy=strategy)
    campaign_advance(campaign.pk, now=world.clock.now)
    assert running.count() == 2


def test_an_aborted_campaign_starts_nothing_more_and_lets_its_node_in_flight_finish(make_world):
    from apps.firmware.campaign_services import campaign_transition

    world = make_world(per_site=2, sites=1)
    campaign = world.campaign(waves=["rest"], max_down_per_site=1)
    world.step(campaign)
    in_flight = campaign.campaign_nodes.get(state="running")
    waiting = campaign.campaign_nodes.get(state="pending")
    campaign_transition(campaign_id=campaign.pk, action="abort", actor=world.engineer)
    campaign = world.drive(campaign)
    assert campaign.state == "aborted"
    in_flight.refresh_from_db()
    waiting.refresh_from_db()
    assert in_flight.state in ("failed", "succeeded") and in_flight.finished_at is not None
    assert waiting.state == "pending" and waiting.started_at is None
    assert not FirmwareUpdate.objects.filter(node=waiting.node).exists()
