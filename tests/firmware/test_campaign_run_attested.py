"""Campaigns end to end on lab Redfish BMCs whose hosts carry lab TPMs (swtpm): success only
once a fresh quote equals the bundle's prediction; a build that measures differently, or a
host that never boots, fails at the attestation step; rollback restores the versions."""

from datetime import datetime

import pytest

from apps.attestation.models import Attestation
from apps.firmware.campaigns import Campaign, CampaignNode
from apps.firmware.models import FirmwareUpdate
from apps.hardware.models import PowerAction
from apps.lab.tpm.node import start_fleet
from tests.firmware.campaign_run_kit import NEW, OLD, versions, with_tpms

Step = CampaignNode.Step


@pytest.fixture
def tpm_fleet(tmp_path):
    fleets = []

    def start(count):
        fleet = start_fleet(count, tmp_path / "tpm")
        fleets.append(fleet)
        return fleet

    yield start
    for fleet in fleets:
        fleet.stop()


def down_intervals(campaign):
    """(site, reset, heat back) of every node, from the recorded step timestamps."""
    out = []
    for cn in campaign.campaign_nodes.select_related("node"):
        assert cn.reset_at is not None and cn.heat_back_at is not None, cn
        out.append((cn.node.site_id, cn.reset_at, cn.heat_back_at))
    return out


def max_concurrent(intervals, site_id):
    events = sorted(
        [(start, 1) for s, start, _ in intervals if s == site_id]
        + [(end, -1) for s, _, end in intervals if s == site_id]
    )
    most = now = 0
    for _, delta in events:
        now += delta
        most = max(most, now)
    return most


def test_two_sites_two_nodes_complete_attested_within_the_heat_budget_then_roll_back(
    make_world, tpm_fleet
):
    world = make_world(per_site=2, sites=2)
    with_tpms(world, tpm_fleet(4))
    campaign = world.campaign(max_down_per_site=1, soak_minutes=15)
    campaign = world.drive(campaign)

    assert campaign.state == Campaign.State.COMPLETED, campaign.reason
    first, second = campaign.waves.order_by("index")
    assert first.state == second.state == "succeeded"
    assert (second.started_at - first.finished_at).total_seconds() >= 15 * 60  # the soak
    assert first.nodes.order_by("-finished_at").first().finished_at == first.finished_at
    for cn in campaign.campaign_nodes.select_related("node"):
        assert (cn.state, cn.step) == ("succeeded", Step.DONE), cn.reason
        bios = world.bundles[NEW].components.get(component="BIOS").version
        assert versions(cn.node)["BIOS"] == bios
        latest = Attestation.objects.filter(node=cn.node).latest("at")
        assert (latest.verdict, latest.release_version) == ("trusted", NEW)
        assert cn.node.attestation_config.release.version == NEW
        assert "release_versions" not in cn.node.attestation_config.variants  # only new now
        assert cn.previous_bundle_id == world.bundles[OLD].pk
        # one update per component that changed, all staged for ONE reset of the node
        updates = FirmwareUpdate.objects.filter(node=cn.node)
        assert sorted(updates.values_list("image__component", "state")) == [
            ("BIOS", "succeeded"),
            ("BMC", "succeeded"),
        ]
        (reset,) = PowerAction.objects.filter(node=cn.node)
        assert (reset.kind, reset.status, cn.power_action_id) == ("reset", "succeeded", reset.pk)
        assert not updates.filter(power_action__isnull=False).exists()  # none reset on its own
        steps = [e["step"] for e in cn.detail["steps"]]
        for earlier, later in zip(
            ("staging", "versions", "attesting", "thermal"),
            ("versions", "attesting", "thermal", "done"),
            strict=True,
        ):
            assert steps.index(earlier) < steps.index(later)
        assert "Supply temperature unknown" in cn.detail["warning"]  # no meter: said, not hidden
    intervals = down_intervals(campaign)
    for site in world.sites:
        assert max_concurrent(intervals, site.pk) == 1  # never two nodes of a site down
    # both sites did work at the same time (the budget is per site, not global)
    a, b = sorted(intervals, key=lambda i: i[1])[:2]
    assert a[0] != b[0] and b[1] < a[2]

    from apps.firmware.campaign_services import campaign_transition

    campaign_transition(campaign_id=campaign.pk, action="rollback", actor=world.engineer)
    campaign = world.drive(campaign)
    assert campaign.state == Campaign.State.ROLLED_BACK, campaign.reason
    for cn in campaign.campaign_nodes.select_related("node"):
        assert (cn.phase, cn.state) == ("rollback", "rolled_back"), cn.reason
        now_running = {k.lower(): v for k, v in versions(cn.node).items()}
        assert now_running == {k: cn.previous_versions[k] for k in now_running}
        assert now_running["bios"] == OLD != cn.detail["forward"]["state"]
        assert cn.node.attestation_config.release.version == OLD
        assert Attestation.objects.filter(node=cn.node).latest("at").verdict == "trusted"
        # the rollback: its own staged updates and one more reset, never one per component
        assert PowerAction.objects.filter(node=cn.node, kind="reset").count() == 2
        assert FirmwareUpdate.objects.filter(node=cn.node, state="succeeded").count() == 4
    intervals = down_intervals(campaign)
    for site in world.sites:
        assert max_concurrent(intervals, site.pk) == 1


def test_a_build_that_measures_differently_halts_naming_the_divergent_event(make_world, tpm_fleet):
    world = make_world(per_site=1, sites=2)
    with_tpms(world, tpm_fleet(2))
    for i in range(2):
        world.lab.bmc(i).faults.measures_differently = True
    campaign = world.campaign(waves=["1", "rest"], error_threshold_count=1)
    campaign = world.drive(campaign)

    assert campaign.state == Campaign.State.HALTED
    (cn,) = campaign.waves.get(index=0).nodes.all()
    assert (cn.state, cn.step, cn.detail["cause"]) == ("failed", Step.ATTESTING, "attestation")
    assert "EV_EFI_PLATFORM_FIRMWARE_BLOB" in cn.reason
    (divergence,) = cn.detail["divergences"]
    assert divergence["pcr"] == 0 and divergence["index"] == 2
    assert cn.node.name in campaign.reason and "EV_EFI_PLATFORM_FIRMWARE_BLOB" in campaign.reason
    (other,) = campaign.waves.get(index=1).nodes.all()
    assert other.state == "pending" and other.started_at is None


def test_a_node_that_never_boots_fails_at_the_attestation_step_never_success(make_world, tpm_fleet):
    world = make_world(per_site=1, sites=1)
    with_tpms(world, tpm_fleet(1))
    world.lab.bmc(0).faults.no_boot_after_update = True
    campaign = world.campaign(waves=["rest"], error_threshold_count=1)
    campaign = world.drive(campaign)

    (cn,) = campaign.campaign_nodes.all()
    assert campaign.state == Campaign.State.HALTED
    assert (cn.state, cn.step) == ("failed", Step.ATTESTING)
    assert "did not boot" in cn.reason
    assert cn.heat_back_at is None
    # the versions read back fine: a node that only staged is not a success
    assert [e["step"] for e in cn.detail["steps"]].count("versions") == 1
    started = datetime.fromisoformat(
        next(e["at"] for e in cn.detail["steps"] if e["step"] == "attesting")
    )
    assert (cn.finished_at - started).total_seconds() >= 20 * 60  # its own timeout
