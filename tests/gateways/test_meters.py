"""Heat meters of a gateway's site: the central side sends the gateway its meter list, the gateway
reads them (over Modbus, against the lab meter) and uploads its spool; they are stored centrally
with the time the gateway read them, for its own sites' meters only."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from apps.gateways import agent, crypto, dispatch, meters, results, wire
from apps.gateways.models import Gateway, GatewayCall, GatewaySite
from apps.heat.models import Reading
from apps.lab.meters import MeterFarm
from tests.factories import HeatMeterFactory, SiteFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def farm():
    with MeterFarm() as running:
        yield running


def test_a_gateway_reads_its_sites_meters_and_the_central_side_stores_them(
    farm, monkeypatch, tmp_path, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        dispatch, "gateway_send", lambda name, task, call, expires: sent.append((task, call))
    )
    keys = crypto.keys_generate()
    crypto.keys_write(keys, tmp_path / "gw.key")
    site, other, direct = SiteFactory(), SiteFactory(), SiteFactory()
    gateway = Gateway.objects.create(
        name="gw-a", box_public_key=keys.box_public, signing_public_key=keys.signing_public
    )
    GatewaySite.objects.create(site=site, gateway=gateway)
    lab = farm.add("HM-GW-1")
    meter = HeatMeterFactory(site=site, serial="HM-GW-1", port=lab.port, unit_id=lab.unit_id)
    local = HeatMeterFactory(site=direct)
    assert meters.meter_poll_send([meter.pk, local.pk]) == [local.pk]
    ((task, call),) = sent
    assert task == wire.METER_POLL_TASK

    # the gateway side, in-process: keeps the list, reads the lab meter over Modbus, uploads
    gateway_side = agent.Gateway(
        agent.GatewayConfig(
            name="gw-a",
            broker_url="memory://",
            private_key=tmp_path / "gw.key",
            state_dir=tmp_path / "state",
        )
    )
    answers = []
    gateway_side.meters.publish = lambda kind, call_id, payload: answers.append(
        (kind, call_id, payload)
    )
    assert gateway_side.meter_list_call(call) == 1
    assert gateway_side.meters.read_round() == 1
    assert gateway_side.meters.upload() == 1
    kind, call_id, payload = answers[0]
    assert payload["meter_list"] == call["call_id"]
    read_at = payload["readings"][0]["reading"]["read_at"]
    # a forged extra meter of another site in the answer is ignored
    foreign = HeatMeterFactory(site=other)
    payload["readings"].append({**payload["readings"][0], "meter_id": foreign.pk})

    document = wire.envelope(
        gateway="gw-a", kind=kind, call_id=call_id, payload=payload, version="1.0"
    )
    with django_capture_on_commit_callbacks(execute=True):  # the acknowledgement, once stored
        assert results.result_receive(document, crypto.sign(keys, document)) == "stored"
    stored = Reading.objects.get(meter=meter)
    assert stored.ts == datetime.fromisoformat(read_at)  # the gateway's time, not the arrival's
    assert timezone.now() - stored.ts < timedelta(minutes=1)
    assert not Reading.objects.filter(meter=foreign).exists()
    # the meter list's call is answered; the batch is acknowledged to the gateway
    assert GatewayCall.objects.get(pk=call["call_id"]).status == GatewayCall.Status.ANSWERED
    assert sent[-1] == (wire.SPOOL_ACK_TASK, {"gateway": "gw-a", "upto": 1})
