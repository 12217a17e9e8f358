"""A campaign on a gateway site: the node's own reads (its versions at the start and the stable
reads after the reset, the power state before it), the updates' Redfish calls and the reset go
through the site's gateway (in-process here), answered in a later executor round; the
executor's decisions stay central and no Redfish driver is built centrally."""

from types import SimpleNamespace

import pytest

from apps.firmware import services as firmware_services
from apps.firmware.campaigns import CampaignNode
from apps.gateways import dispatch, wire
from apps.hardware import tasks as hardware_tasks
from tests.firmware.gateway_kit import SiteGateway, central_drivers, pump

pytestmark = pytest.mark.django_db(transaction=True)
QUICK = {"waves": ["rest"], "step_minutes": {"attesting": 1}, "error_threshold_count": 9}


def test_a_campaign_node_behind_a_gateway_is_read_flashed_and_reset_through_it(
    make_world, monkeypatch, tmp_path, live_server, settings
):
    settings.FIRMWARE_IMAGE_BASE_URL = live_server.url  # the gateway downloads pushed images
    world = make_world(per_site=1, sites=1)
    sent = []
    monkeypatch.setattr(
        dispatch, "gateway_send", lambda name, task, call, expires: sent.append((name, task, call))
    )
    monkeypatch.setattr(dispatch, "deadline_send", lambda call_id, eta: None)
    monkeypatch.setattr(firmware_services, "firmware_update_enqueue", lambda update_id: None)
    monkeypatch.setattr(hardware_tasks.power_execute_task, "delay", lambda action_id: None)
    gateway = SiteGateway("gw-a", world.sites[0], tmp_path)
    site = SimpleNamespace(sent=sent, gw={"gw-a": gateway})
    built = central_drivers(monkeypatch)

    campaign = world.campaign(**QUICK)
    cn = CampaignNode.objects.get(campaign=campaign)
    for _ in range(120):
        world.step(campaign)
        pump(site)
        cn.refresh_from_db()
        if cn.step == "attesting" or cn.state not in ("pending", "running"):
            break
    assert (cn.state, cn.step) == ("running", "attesting"), cn.reason
    assert built == []  # every BMC call of the campaign went through the gateway
    ops = [call.get("op", task) for task, call in gateway.received]
    assert ops[0] == "inventory"  # the start's read
    assert "push" in ops and "power_state" in ops and wire.POWER_TASK in ops
    assert cn.previous_versions  # read at the start, through the gateway
    assert cn.good_reads >= 3  # the stable reads after the reset, each a gateway answer
