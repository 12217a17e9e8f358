"""A firmware update's Redfish calls on the real RabbitMQ: the call lands on the node's gateway's
queue only, readable with that gateway's own restricted user, carrying its own node's
credentials only (sealed); the gateway makes the call against the lab's Redfish BMC and its
signed answer goes back through the results exchange with the same user, and the update moves
on. The gateway's existing permissions cover all of it (no new queue or exchange)."""

import json

import pytest
from kombu import Connection

from apps.firmware import services as firmware_services
from apps.firmware import tracking
from apps.firmware.models import FirmwareUpdate
from apps.gateways import agent, crypto, dispatch, results, wire
from apps.gateways.models import GatewayCall
from apps.hardware.drivers.redfish import transport
from apps.lab.redfish.updates import build_image
from tests.factories import SiteFactory
from tests.hardware.redfish_nodes import dual_lab_node

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queues(gateway_settings, rabbit):
    dispatch.results_declare()
    with Connection(rabbit.url) as conn:
        for gateway in (rabbit.a, rabbit.b):
            dispatch.gateway_queue(gateway.name).bind(conn.default_channel).declare()
    yield rabbit
    with Connection(rabbit.url) as conn:
        for gateway in (rabbit.a, rabbit.b):
            dispatch.gateway_queue(gateway.name).bind(conn.default_channel).purge()
        dispatch.RESULTS.bind(conn.default_channel).purge()


def _drain(url: str, queue: str) -> list[list]:
    bodies = []
    with Connection(url, connect_timeout=10) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue=queue, no_ack=True)) is not None:
            bodies.append(json.loads(message.body))
    return bodies


def test_a_firmware_call_goes_to_its_gateway_only_and_its_answer_comes_back_on_rabbitmq(
    queues, make_dual_lab, engineer, settings, tmp_path, monkeypatch
):
    settings.FIRMWARE_IMAGE_ROOT = tmp_path / "firmware"
    enqueued = []
    monkeypatch.setattr(firmware_services, "firmware_update_enqueue", enqueued.append)
    lab = make_dual_lab(count=1)
    a, b = queues.a, queues.b
    site_a, site_b = SiteFactory(), SiteFactory()
    a.row(site_a), b.row(site_b)
    node_a = dual_lab_node(lab, 0, accepted=True, site=site_a, bmc_protocol="redfish")
    node_b = dual_lab_node(
        lab, 0, accepted=True, site=site_b, bmc_protocol="redfish", bmc_password="bravo-secret-2"
    )
    image, _ = firmware_services.firmware_image_store(
        actor=engineer, name="nic.hsfw", data=build_image("NIC", "22.31.6")
    )
    updates = [
        firmware_services.firmware_update_request(
            actor=engineer, node=node, image=image, method="push"
        )
        for node in (node_a, node_b)
    ]
    for update in updates:
        assert tracking.firmware_update_advance(update.pk).retry_in is None  # asked, waiting
    enqueued.clear()  # (the requests' own first steps)

    received = _drain(a.broker_url, f"gw.{a.name}")  # as gateway A's own user
    assert len(received) == 1
    assert "bravo-secret-2" not in json.dumps(received)
    ((call,), _kwargs, _embed) = received[0]
    assert (call["gateway"], call["op"]) == (a.name, "inventory")
    secret = crypto.unseal(a.keys, call["sealed"], aad=f"{a.name}:{call['call_id']}")
    assert secret["endpoint"]["port"] == node_a.redfish_port
    assert GatewayCall.objects.get(pk=call["call_id"]).detail["update_id"] == updates[0].pk
    ((call_b,), _, _) = _drain(queues.url, f"gw.{b.name}")[0]
    with pytest.raises(crypto.SealError):  # A's key does not open B's call
        crypto.unseal(a.keys, call_b["sealed"], aad=f"{b.name}:{call_b['call_id']}")

    # gateway A makes the call and answers on the results exchange, as its own user
    crypto.keys_write(a.keys, tmp_path / "a.key")
    worker = agent.Gateway(
        agent.GatewayConfig(
            name=a.name,
            broker_url=a.broker_url,
            private_key=tmp_path / "a.key",
            state_dir=tmp_path / "a",
        )
    )
    assert worker.app.tasks[wire.FIRMWARE_TASK](call) == "done"
    answers = [
        args
        for args, _, _ in _drain(queues.url, wire.RESULTS_QUEUE)
        # (document, signature) for this call: the central deadline timers are (call id,), and
        # other tests' gateways on this vhost send heartbeats (no call)
        if len(args) == 2 and args[0].get("call_id") == call["call_id"]
    ]
    assert [document["kind"] for document, _ in answers] == ["firmware"]
    document, signature = answers[0]
    assert results.result_receive(document, signature) == "answered"
    assert enqueued == [updates[0].pk]

    # the step runs again with the answer: the version read, the push claimed and asked
    tracking.firmware_update_advance(updates[0].pk)
    update = FirmwareUpdate.objects.get(pk=updates[0].pk)
    assert update.state == "staging" and update.previous_version not in ("", "22.31.6")
    ((push,), _, _) = _drain(a.broker_url, f"gw.{a.name}")[0]
    assert push["op"] == "push" and push["image_sha256"] == image.sha256
    transport.close_all()
