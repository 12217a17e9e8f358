"""Single steps of a campaign node on a lab Redfish BMC: the heat gate (draw back, supply back
at or above the contract, unknown supply kept unknown) and the drain/undrain webhooks against a
loopback HTTP server."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from apps.firmware.campaign_steps import campaign_node_advance, campaign_node_start
from apps.firmware.campaigns import CampaignNode
from apps.heat.models import MeterState
from tests.factories import HeatMeterFactory

Step = CampaignNode.Step


def at_step(world, step, **strategy):
    campaign = world.campaign(waves=["rest"], **strategy)
    cn = campaign.campaign_nodes.select_related("node").get()
    CampaignNode.objects.filter(pk=cn.pk).update(
        state="running",
        step=step,
        step_started_at=world.clock.now,
        started_at=world.clock.now,
        detail={"pre_power_w": 300.0, "pre_supply_c": None},
    )
    return CampaignNode.objects.get(pk=cn.pk)


def supply(site, celsius, at):
    meter = HeatMeterFactory(site=site)
    return MeterState.objects.create(meter=meter, last_ts=at, last_supply_c=celsius)


def test_heat_gate_waits_for_the_supply_to_reach_the_contract_then_passes(make_world):
    world = make_world(per_site=1, sites=1)
    site = world.sites[0]
    site.contract_min_supply_c = 55
    site.save()
    cn = at_step(world, Step.THERMAL)
    state = supply(site, 48.0, world.clock.now)
    assert campaign_node_advance(cn.pk, now=world.clock.now) is not None
    cn.refresh_from_db()
    assert (cn.state, cn.step) == ("running", Step.THERMAL)
    assert "supply 48.0 °C (needs 55.0 °C)" in cn.reason
    world.clock.advance(minutes=5)
    state.last_supply_c, state.last_ts = 56.5, world.clock.now
    state.save()
    campaign_node_advance(cn.pk, now=world.clock.now)
    cn.refresh_from_db()
    assert (cn.state, cn.step, cn.heat_back_at) == ("succeeded", Step.DONE, world.clock.now)
    assert "warning" not in cn.detail


def test_heat_gate_never_takes_an_old_reading_and_in_wait_mode_fails_at_its_timeout(make_world):
    world = make_world(per_site=1, sites=1)
    cn = at_step(world, Step.THERMAL, thermal_unknown="wait")
    supply(world.sites[0], 60.0, world.clock.now - timedelta(hours=2))  # stale: says nothing
    campaign_node_advance(cn.pk, now=world.clock.now)
    cn.refresh_from_db()
    assert cn.state == "running" and "supply temperature unknown" in cn.reason
    world.clock.advance(minutes=31)
    campaign_node_advance(cn.pk, now=world.clock.now)
    cn.refresh_from_db()
    assert (cn.state, cn.step) == ("failed", Step.THERMAL)
    assert "the heat did not come back within 30 min" in cn.reason
    assert cn.heat_back_at is None


def test_heat_gate_waits_while_the_node_draws_nothing(make_world):
    from apps.hardware.drivers import driver_for

    world = make_world(per_site=1, sites=1)
    cn = at_step(world, Step.THERMAL)
    driver_for(world.lab.ipmi.endpoint(0)).power("off")
    campaign_node_advance(cn.pk, now=world.clock.now)
    cn.refresh_from_db()
    assert cn.state == "running" and "needs 150 W" in cn.reason
    driver_for(world.lab.ipmi.endpoint(0)).power("on")
    campaign_node_advance(cn.pk, now=world.clock.now)
    cn.refresh_from_db()
    assert cn.state == "succeeded"
    assert "Supply temperature unknown" in cn.reason  # passed with the warning, said


@pytest.fixture
def hook_server():
    seen, answers = [], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, json.loads(body)))
            self.send_response(answers.pop(0) if answers else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen, answers
    server.shutdown()
    server.server_close()


def test_pre_hook_is_asked_until_it_answers_2xx_and_post_hook_undrains(make_world, hook_server):
    url, seen, answers = hook_server
    world = make_world(per_site=1, sites=1)
    campaign = world.campaign(waves=["rest"], pre_hook=f"{url}/drain", post_hook=f"{url}/undrain")
    cn = campaign.campaign_nodes.select_related("node", "campaign").get()
    campaign_node_start(cn, world.clock.now)
    assert cn.step == Step.PRE_HOOK
    answers.append(503)
    campaign_node_advance(cn.pk, now=world.clock.now)
    cn.refresh_from_db()
    assert (cn.step, cn.reason) == (Step.PRE_HOOK, "Pre-hook answered HTTP 503; asking again.")
    campaign_node_advance(cn.pk, now=world.clock.now)
    cn.refresh_from_db()
    assert cn.step in (Step.STAGING, Step.APPLYING)  # drained: the flash began
    assert [p for p, _ in seen] == ["/drain", "/drain"]
    assert seen[0][1] | {} == {
        "event": "pre",
        "campaign_id": campaign.pk,
        "node": cn.node.name,
        "node_id": cn.node_id,
        "site": cn.node.site.code,
        "phase": "forward",
    }
    CampaignNode.objects.filter(pk=cn.pk).update(step=Step.POST_HOOK)
    campaign_node_advance(cn.pk, now=world.clock.now)
    cn.refresh_from_db()
    assert (cn.state, cn.step) == ("succeeded", Step.DONE)
    assert seen[-1][0] == "/undrain" and seen[-1][1]["event"] == "post"


@pytest.mark.parametrize(
    ("strategy", "words"),
    [
        ({"thermal_unknown": "ignore"}, "strategy.thermal_unknown must be one of warn, wait"),
        ({"method": "ftp"}, "strategy.method must be one of push, simple"),
        ({"step_minutes": {"flashing": 5}}, "unknown step 'flashing'"),
        ({"step_minutes": {"thermal": 0}}, "step_minutes.thermal must be a whole number"),
        ({"step_minutes": [5]}, "must map steps"),
        ({"power_back_pct": 120}, "power_back_pct must be a percentage"),
        ({"stable_reads": 0}, "stable_reads must be a whole number ≥ 1"),
    ],
)
def test_executor_settings_in_the_campaign_file_are_checked(strategy, words):
    from apps.firmware.campaign_spec import CampaignSpecError, strategy_from

    with pytest.raises(CampaignSpecError, match=words):
        strategy_from(strategy)


def test_executor_settings_reach_the_step_machine():
    from apps.firmware.campaign_spec import strategy_from
    from apps.firmware.campaign_steps import StepSettings

    stored = strategy_from(
        {"thermal_unknown": "wait", "step_minutes": {"attesting": 7}, "stable_reads": 5}
    ).as_dict()
    conf = StepSettings.from_strategy(json.loads(json.dumps(stored)))  # as kept in the database
    assert (conf.thermal_unknown, conf.stable_reads) == ("wait", 5)
    assert conf.step_minutes["attesting"] == 7 and conf.step_minutes["thermal"] == 30


def test_each_transition_is_audited_and_pushed_to_the_campaigns_group(make_world, monkeypatch):
    from apps.audit.models import AuditEvent
    from apps.firmware import campaign_run, campaign_steps

    pushed = []
    monkeypatch.setattr(campaign_steps, "broadcast", lambda g, e: pushed.append((g, e)))
    monkeypatch.setattr(campaign_run, "broadcast", lambda g, e: pushed.append((g, e)))
    world = make_world(per_site=1, sites=1)
    campaign = world.campaign(waves=["rest"])
    campaign_run.campaign_advance(campaign.pk, now=world.clock.now)
    group = f"campaign.{campaign.pk}.progress"
    assert {g for g, _ in pushed} == {group}
    wave = [e for _, e in pushed if e["type"] == "campaign.state"]
    assert wave[0]["wave_state"] == "running"
    assert wave[0]["nodes"] == {"pending": 1, "running": 0, "succeeded": 0, "failed": 0}
    node = [e for _, e in pushed if e["type"] == "campaign.node"]
    assert (node[0]["step"], node[0]["state"]) == ("staging", "running")
    audited = AuditEvent.objects.filter(action="firmware.campaign_node")
    assert audited.first().detail["to"] in ("staging/running", "applying/running")
    assert audited.count() == len(node)


def test_a_retry_keeps_the_first_attempts_baseline(make_world):
    from apps.attestation import services as attestation
    from apps.attestation.models import FirmwareRelease
    from tests.firmware.campaign_run_kit import NEW, OLD

    world = make_world(per_site=1, sites=1)
    campaign = world.campaign(waves=["rest"])
    cn = campaign.campaign_nodes.select_related("node", "campaign").get()
    campaign_node_start(cn, world.clock.now)
    assert (cn.detail["old_release"], cn.detail["pre_power_w"], cn.attempts) == (OLD, 300.0, 1)
    # the first attempt got as far as recording the new release, and the node draws less
    config = cn.node.attestation_config
    new = FirmwareRelease.objects.get(profile=config.release.profile, version=NEW)
    attestation.configuration_set(node=cn.node, release=new, config=config.to_config())
    cn.node.power_w = 20.0
    cn.node.save()
    CampaignNode.objects.filter(pk=cn.pk).update(state="pending", step="queued")
    cn = CampaignNode.objects.select_related("node", "campaign").get(pk=cn.pk)
    campaign_node_start(cn, world.clock.now)
    assert (cn.detail["old_release"], cn.detail["pre_power_w"], cn.attempts) == (OLD, 300.0, 2)


def test_the_node_timeout_bounds_an_attempt_across_its_steps(make_world):
    world = make_world(per_site=1, sites=1)
    cn = at_step(world, Step.VERSIONS, node_timeout_minutes=5)
    began = (world.clock.now - timedelta(minutes=3)).isoformat()
    CampaignNode.objects.filter(pk=cn.pk).update(detail={**cn.detail, "attempt_started_at": began})
    campaign_node_advance(cn.pk, now=world.clock.now)  # the BMC still runs the old versions
    cn.refresh_from_db()
    assert cn.state == "running" and "BMC reports" in cn.reason
    world.clock.advance(minutes=2)  # 5 min into the attempt, 2 into the step (10 allowed)
    campaign_node_advance(cn.pk, now=world.clock.now)
    cn.refresh_from_db()
    assert (cn.state, cn.step, cn.detail["cause"]) == ("failed", Step.VERSIONS, "timeout")
    assert "did not report every component's version stably" in cn.reason
    assert "within 5 min (the node's timeout)" in cn.reason


def test_a_node_without_an_attestation_agent_is_failed_before_anything_is_flashed(make_world):
    from apps.attestation.models import AgentEndpoint
    from apps.firmware.models import FirmwareUpdate

    world = make_world(per_site=1, sites=1)
    campaign = world.campaign(waves=["rest"])
    cn = campaign.campaign_nodes.select_related("node", "campaign").get()
    AgentEndpoint.objects.filter(node=cn.node).delete()
    campaign_node_start(cn, world.clock.now)
    cn.refresh_from_db()
    assert (cn.state, cn.detail["cause"], cn.attempts) == ("failed", "no_agent", 1)
    assert cn.started_at is None  # nothing to roll back
    assert not FirmwareUpdate.objects.filter(node=cn.node).exists()
