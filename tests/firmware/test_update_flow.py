"""A firmware update driven step by step against a lab Redfish BMC: push, task progress on the
lab's clock, one reset through the power-action machinery, success decided by reading the
version back; every transition audited."""

from apps.audit.models import AuditEvent
from apps.firmware.models import FirmwareUpdate
from apps.hardware.models import PowerAction
from tests.firmware.conftest import (
    UPDATE_SECONDS,
    advance,
    request,
    run_power,
    running_version,
    store,
)

State = FirmwareUpdate.State


def test_a_pushed_update_runs_resets_once_and_succeeds_by_the_version_read_back(
    fw_node, engineer, clock, lab_redfish_clock
):
    before = running_version(fw_node, "NIC")
    image = store(engineer, "NIC", "22.31.6")
    update = request(engineer, fw_node, image)
    assert update.state == State.PENDING

    update, retry = advance(update, clock)
    assert update.state == State.RUNNING
    assert update.previous_version == before
    assert update.task_monitor.startswith("/redfish/v1/TaskService/TaskMonitors/")
    assert (update.percent, retry) == (0, 10.0)

    lab_redfish_clock.advance(UPDATE_SECONDS / 2)
    clock.advance(seconds=15)
    update, retry = advance(update, clock)
    assert (update.state, update.percent, retry) == (State.RUNNING, 50, 5.0)  # BMC's Retry-After

    lab_redfish_clock.advance(UPDATE_SECONDS)
    clock.advance(seconds=15)
    update, _ = advance(update, clock)
    assert (update.state, update.task_completed, update.percent) == (State.APPLYING, True, 100)
    assert running_version(fw_node, "NIC") == before  # staged, not running before the reset

    update, _ = advance(update, clock)
    action = update.power_action
    assert (action.kind, action.status, action.requested_by) == ("reset", "pending", engineer)
    update, _ = advance(update, clock)  # the reset is not done yet: wait, never ask again
    assert update.state == State.APPLYING
    assert PowerAction.objects.filter(node=fw_node).count() == 1

    run_power(update)
    update, _ = advance(update, clock)
    assert update.state == State.VERIFYING
    update, retry = advance(update, clock)
    assert (update.state, update.version_read_back, retry) == (State.SUCCEEDED, "22.31.6", None)
    assert update.reason == f"Now runs 22.31.6 (was {before})."
    assert running_version(fw_node, "NIC") == "22.31.6"

    # Every transition is in the audit log, in order, with the engineer as the actor.
    events = AuditEvent.objects.filter(action="firmware.update", target_id=str(fw_node.pk))
    steps = [(e.detail.get("from"), e.detail.get("to"), e.result) for e in events.order_by("id")]
    assert steps == [
        (None, None, "pending"),  # the request
        ("pending", "staging", "pending"),
        ("staging", "running", "pending"),
        ("running", "applying", "pending"),
        ("applying", "verifying", "pending"),
        ("verifying", "succeeded", "ok"),
    ]
    assert {e.actor for e in events} == {engineer}
    reset = AuditEvent.objects.get(action="firmware.update.reset")
    assert reset.detail["power_action_id"] == action.pk
    assert AuditEvent.objects.filter(action="power.reset", result="ok").count() == 1


def test_an_update_to_the_running_version_sends_nothing(fw_node, engineer, clock, lab):
    image = store(engineer, "NIC", running_version(fw_node, "NIC"))
    update, retry = advance(request(engineer, fw_node, image), clock)
    assert (update.state, retry, update.sent_at) == (State.SUCCEEDED, None, None)
    assert "nothing was sent" in update.reason
    assert lab.redfish.service(0).tasks == {}


def test_an_apply_time_the_bmc_refuses_fails_with_its_words(fw_node, engineer, clock, lab):
    update = request(engineer, fw_node, store(engineer, "CPLD", "1.4"), apply_time="Immediate")
    update, retry = advance(update, clock)
    assert (update.state, update.cause, retry) == (State.FAILED, "bad_request", None)
    assert "The BMC says:" in update.reason and "OperationApplyTime" in update.reason
    assert lab.redfish.service(0).tasks == {}


def test_a_node_whose_certificate_is_not_accepted_fails_before_anything_is_sent(
    lab, site, engineer, clock
):
    from tests.hardware.redfish_nodes import dual_lab_node

    node = dual_lab_node(lab, 0, accepted=False, site=site, bmc_protocol="redfish")
    update, retry = advance(request(engineer, node, store(engineer, "NIC", "22.31.7")), clock)
    assert (update.state, update.cause, retry) == (State.FAILED, "certificate_unknown", None)
    assert lab.redfish.service(0).tasks == {}


def test_the_sites_hardware_pages_hear_of_each_state_and_progress_on_commit(
    fw_node, engineer, clock, lab_redfish_clock, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.core import realtime
    from apps.firmware import services

    sent = []
    monkeypatch.setattr(realtime, "send_now", lambda group, event: sent.append((group, event)))
    monkeypatch.setattr(services, "firmware_update_enqueue", lambda update_id: None)  # no broker
    with django_capture_on_commit_callbacks(execute=True):
        update = request(engineer, fw_node, store(engineer, "NIC", "22.31.8"))
        update, _ = advance(update, clock)
        advance(update, clock)  # no progress: nothing to tell
        lab_redfish_clock.advance(UPDATE_SECONDS / 2)
        advance(update, clock)
    firmware = [e for g, e in sent if e["type"] == "node.firmware_update"]
    assert {g for g, e in sent} == {f"site.{fw_node.site_id}.hardware"}
    assert [(e["state"], e["percent"]) for e in firmware] == [
        ("pending", None),
        ("staging", None),
        ("running", 0),
        ("running", 50),
    ]
    assert {e["node_id"] for e in firmware} == {fw_node.pk}
