"""Firmware updates of a gateway site's node: every Redfish call (inventory, push, task monitor,
power state, the reset, the read-back) is made by the site's gateway (in-process here, its
answers signed and taken through `results.result_receive`), never by the central side; the
state machine and its decisions stay central. The BMC is the lab's, over real Redfish."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import translation

from apps.audit.models import AuditEvent
from apps.firmware import services as firmware_services
from apps.firmware.campaign_text import said
from apps.firmware.models import FirmwareUpdate
from apps.gateways import agent_firmware, crypto, dispatch, power, wire
from apps.gateways.models import GatewayCall
from apps.hardware import tasks as hardware_tasks
from apps.hardware.drivers import driver_for
from apps.hardware.protocols import endpoint_for
from tests.factories import SiteFactory
from tests.firmware.conftest import UPDATE_SECONDS, advance, request, store
from tests.firmware.gateway_kit import SiteGateway, central_drivers, drive, on_gateway, pump
from tests.hardware.redfish_nodes import dual_lab_node

State = FirmwareUpdate.State
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def central_never_calls_the_bmc(monkeypatch):
    return central_drivers(monkeypatch)


@pytest.fixture
def world(lab, fw_node, site, tmp_path, monkeypatch, live_server, settings, lab_redfish_clock):
    """Gateway A serves the lab node's site; B another site. Sends are collected (the queue),
    workers played by the test: ``enqueued`` are the updates handed back to a worker."""
    settings.FIRMWARE_IMAGE_BASE_URL = live_server.url  # the gateway downloads pushed images
    sent, enqueued = [], []
    monkeypatch.setattr(
        dispatch, "gateway_send", lambda name, task, call, expires: sent.append((name, task, call))
    )
    monkeypatch.setattr(dispatch, "deadline_send", lambda call_id, eta: None)
    monkeypatch.setattr(firmware_services, "firmware_update_enqueue", enqueued.append)
    monkeypatch.setattr(hardware_tasks.power_execute_task, "delay", lambda action_id: None)
    gateways = {"gw-a": SiteGateway("gw-a", site, tmp_path)}
    site_b = SiteFactory()
    gateways["gw-b"] = SiteGateway("gw-b", site_b, tmp_path)
    return SimpleNamespace(
        lab=lab,
        bmc_clock=lab_redfish_clock,
        node=fw_node,
        site_b=site_b,
        sent=sent,
        enqueued=enqueued,
        gw=gateways,
    )


def test_a_pushed_update_runs_through_the_gateway_and_central_never_calls_the_bmc(
    world, engineer, clock, central_never_calls_the_bmc
):
    update = request(engineer, world.node, store(engineer, "NIC", "22.31.6"))
    update, retry = advance(update, clock)
    assert (update.state, retry) == (State.PENDING, None)  # asked the gateway, waiting
    assert [(n, t, c["op"]) for n, t, c in world.sent] == [
        ("gw-a", wire.FIRMWARE_TASK, "inventory")
    ]

    update, asked = drive(world, update, clock)
    assert (update.state, update.version_read_back) == (State.SUCCEEDED, "22.31.6")
    assert asked[:3] == ["inventory", "push", "task"]
    assert wire.POWER_TASK in asked and asked[-1] == "inventory"
    assert update.power_action.status == "succeeded"
    assert central_never_calls_the_bmc == []
    firmware_calls = [kind for kind in asked if kind != wire.POWER_TASK]
    assert world.enqueued.count(update.pk) == 1 + len(firmware_calls)  # each answer: a step
    # the send is audited, and every transition as for a direct update
    assert AuditEvent.objects.filter(action="firmware.update.gateway_send").count() == 1
    steps = AuditEvent.objects.filter(action="firmware.update", target_id=str(world.node.pk))
    assert [e.detail["to"] for e in steps.filter(detail__has_key="to").order_by("id")] == [
        "staging", "running", "applying", "verifying", "succeeded"
    ]  # fmt: skip
    assert not GatewayCall.objects.filter(status="sent").exists()


def test_a_task_monitor_lost_at_the_bmc_is_decided_by_the_version_through_the_gateway(
    world, engineer, clock, central_never_calls_the_bmc
):
    world.lab.bmc(0).faults.monitor_gone = True
    update = request(engineer, world.node, store(engineer, "CPLD", "1.3"))
    update, _ = advance(update, clock)
    pump(world)
    update, _ = advance(update, clock)  # the push goes out
    pump(world)
    update, _ = advance(update, clock)
    assert update.state == State.RUNNING
    # A BMC that names only its task monitor (OpenBMC's Location): no task resource to fall to.
    FirmwareUpdate.objects.filter(pk=update.pk).update(task_uri="")
    world.bmc_clock.advance(UPDATE_SECONDS)
    update, _ = advance(update, clock)
    assert [c["op"] for _, _, c in world.sent] == ["task"]
    assert pump(world) == ["answered"]
    update, _ = advance(update, clock)  # 404: gone, not failed; the version read back decides
    assert update.state == State.RUNNING
    assert [c["op"] for _, _, c in world.sent] == ["inventory"]  # asked in the same step
    assert pump(world) == ["answered"]
    update, _ = advance(update, clock)  # not the target yet: staged, maybe; the reset decides
    assert (update.state, update.task_completed) == (State.APPLYING, False)
    update, asked = drive(world, update, clock)
    assert (update.state, update.version_read_back) == (State.SUCCEEDED, "1.3")
    assert asked[0] == "power_state" and asked[-1] == "inventory"
    assert central_never_calls_the_bmc == []


def test_a_task_forgotten_in_a_bmc_reboot_asks_the_version_in_the_same_step(
    world, engineer, clock, central_never_calls_the_bmc
):
    update = request(engineer, world.node, store(engineer, "NIC", "22.40.1"))
    for _ in range(2):
        update, _ = advance(update, clock)
        pump(world)
    update, _ = advance(update, clock)
    assert update.state == State.RUNNING
    world.bmc_clock.advance(UPDATE_SECONDS)
    with on_gateway():  # someone reset the node at the site (the image activates) ...
        driver_for(endpoint_for(world.node, "redfish")).power("reset")
    world.lab.redfish.service(0).reboot_bmc()  # ... then the BMC rebooted and forgot its tasks
    update, _ = advance(update, clock)
    pump(world)  # the task: gone
    update, _ = advance(update, clock)  # so the same step reads the version: asked now
    assert update.state == State.RUNNING
    assert [c["op"] for _, _, c in world.sent] == ["inventory"]
    pump(world)
    update, _ = advance(update, clock)
    assert (update.state, update.version_read_back) == (State.SUCCEEDED, "22.40.1")
    assert "forgot" in update.reason
    assert central_never_calls_the_bmc == []


def test_an_offline_gateway_fails_the_step_at_its_deadline_and_never_sends_later(
    world, engineer, clock, monkeypatch
):
    update = request(engineer, world.node, store(engineer, "NIC", "22.31.6"))
    update, _ = advance(update, clock)
    pump(world)
    update, _ = advance(update, clock)  # the push is queued for gw-a, which is offline
    assert update.state == State.STAGING
    ((_, _, message),) = world.sent
    call = GatewayCall.objects.get(pk=message["call_id"])
    assert call.kind == "fw_push" and call.start_by < call.deadline
    assert not power.call_expire(str(call.pk), now=call.deadline - timedelta(seconds=1))
    update, retry = advance(update, clock)  # still waiting for the gateway: nothing else
    assert (update.state, retry) == (State.STAGING, None)
    assert power.call_expire(str(call.pk), now=call.deadline + timedelta(seconds=1))
    assert world.enqueued[-1] == update.pk
    update, _ = advance(update, clock)
    assert (update.state, update.cause) == (State.FAILED, "gateway_offline")
    assert update.reason.startswith("site gateway offline: gw-a did not answer by the deadline")
    failed = AuditEvent.objects.filter(action="firmware.update", result="failed").get()
    assert failed.detail["cause"] == "gateway_offline"
    with translation.override("fr"):  # the node page shows it in the reader's language
        assert said(update.reason).startswith("passerelle de site hors ligne : gw-a n’a pas")

    # the gateway comes back after the call's start-by time: it drops the call unsent
    later = SimpleNamespace(time=lambda: call.start_by.timestamp() + 1)
    monkeypatch.setattr(agent_firmware, "time", later)
    assert world.gw["gw-a"].run(wire.FIRMWARE_TASK, message) == []
    assert world.lab.redfish.service(0).tasks == {}  # the BMC never heard of it


def test_an_answer_after_the_deadline_changes_nothing_and_is_audited(world, engineer, clock):
    update = request(engineer, world.node, store(engineer, "NIC", "22.31.6"))
    update, _ = advance(update, clock)
    ((_, _, message),) = world.sent
    call = GatewayCall.objects.get(pk=message["call_id"])
    assert power.call_expire(str(call.pk), now=call.deadline + timedelta(seconds=1))
    assert pump(world) == ["late"]  # the inventory read answered too late
    update, _ = advance(update, clock)
    assert (update.state, update.cause) == (State.FAILED, "gateway_offline")
    assert AuditEvent.objects.filter(action="gateway.late_answer", target_id=str(call.gateway_id))


def test_a_gateway_gets_only_its_own_sites_credentials_and_answers_only_its_calls(
    world, engineer, clock
):
    node_b = dual_lab_node(
        world.lab,
        0,
        accepted=True,
        site=world.site_b,
        bmc_protocol="redfish",
        bmc_password="site-b-only-secret",
    )
    image = store(engineer, "NIC", "22.31.6")
    update_a = request(engineer, world.node, image)
    update_b = request(engineer, node_b, image)
    advance(update_a, clock)
    advance(update_b, clock)
    (name_a, _, _), (name_b, _, call_b) = world.sent
    assert (name_a, name_b) == ("gw-a", "gw-b")
    assert "site-b-only-secret" not in repr(world.sent)  # never in clear on the broker
    keys_a, keys_b = world.gw["gw-a"].keys, world.gw["gw-b"].keys
    opened = crypto.unseal(keys_b, call_b["sealed"], aad=f"gw-b:{call_b['call_id']}")
    assert opened["endpoint"]["password"] == "site-b-only-secret"
    with pytest.raises(crypto.SealError):  # A cannot open B's call, even handed it
        crypto.unseal(keys_a, call_b["sealed"], aad=f"gw-a:{call_b['call_id']}")
    assert world.gw["gw-a"].run(wire.FIRMWARE_TASK, call_b) == []  # not addressed to it
    assert world.gw["gw-a"].run(wire.FIRMWARE_TASK, {**call_b, "gateway": "gw-a"}) == ["refused"]
    refused = AuditEvent.objects.get(action="gateway.answer", result="refused")
    assert refused.detail["reason"] == "not a call sent to this gateway"
    # what gateway A received names its own node only
    assert pump(world) == ["answered", "answered"]
    for _, call in world.gw["gw-a"].received:
        if call["gateway"] == "gw-a" and call["call_id"] != call_b["call_id"]:
            opened = crypto.unseal(keys_a, call["sealed"], aad=f"gw-a:{call['call_id']}")
            assert opened["endpoint"]["password"] != "site-b-only-secret"


def test_a_send_redelivered_after_the_gateway_died_is_not_sent_twice(world, engineer, clock):
    update = request(engineer, world.node, store(engineer, "NIC", "22.31.6"))
    update, _ = advance(update, clock)
    pump(world)
    update, _ = advance(update, clock)
    ((name, task, message),) = world.sent
    gateway = world.gw[name]
    # the gateway was killed after journalling the send: the message comes back
    firmware = agent_firmware.GatewayFirmware(gateway.worker)
    firmware.journal.put(message["call_id"], {"state": "started", "at": 0})
    world.sent.clear()
    assert gateway.run(task, message) == ["answered"]
    update, _ = advance(update, clock)
    assert (update.state, update.cause) == (State.FAILED, "interrupted")
    assert world.lab.redfish.service(0).tasks == {}
