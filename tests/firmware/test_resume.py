"""A worker killed at any step: the state is in the database, a redelivered step never sends
the image twice nor asks for a second reset, and the beat sweep hands quiet updates back."""

from datetime import timedelta

import pytest

from apps.audit.models import AuditEvent
from apps.firmware import tasks, tracking
from apps.firmware.models import FirmwareUpdate
from apps.hardware.models import PowerAction
from tests.firmware.conftest import UPDATE_SECONDS, advance, request, run_power, store

State = FirmwareUpdate.State


@pytest.fixture
def applying(lab, fw_node, engineer, clock, lab_redfish_clock):
    update, _ = advance(request(engineer, fw_node, store(engineer, "NIC", "22.50.0")), clock)
    lab_redfish_clock.advance(UPDATE_SECONDS)
    update, _ = advance(update, clock)
    assert update.state == State.APPLYING
    return update


def test_a_redelivered_step_never_requests_a_second_reset(applying, fw_node, clock):
    first, _ = advance(applying, clock)
    again, _ = advance(applying, clock)  # the same message delivered twice
    assert first.power_action_id == again.power_action_id is not None
    run_power(again)
    # The worker died after the reset ran and before recording it: the next delivery reads the
    # power action, never asks for another.
    for _ in range(2):
        done, _ = advance(applying, clock)
    assert PowerAction.objects.filter(node=fw_node).count() == 1
    assert done.state == State.SUCCEEDED


def test_a_failed_reset_fails_the_update_with_its_reason(applying, clock):
    update, _ = advance(applying, clock)
    PowerAction.objects.filter(pk=update.power_action_id).update(
        status="failed", error="The BMC does not answer on the network."
    )
    update, retry = advance(update, clock)
    assert (update.state, update.cause, retry) == (State.FAILED, "reset_failed", None)
    assert update.reason == "The reset failed: The BMC does not answer on the network."


def test_an_update_waits_for_a_power_action_already_in_flight(applying, fw_node, clock, engineer):
    from apps.hardware.services import power_request

    other = power_request(actor=engineer, node=fw_node, kind="on")
    update, retry = advance(applying, clock)
    assert (update.state, update.power_action_id, retry) == (State.APPLYING, None, 5.0)
    advance(update, clock)
    assert not AuditEvent.objects.filter(result="refused").exists()  # waited, not refused
    PowerAction.objects.filter(pk=other.pk).update(status="succeeded")
    update, _ = advance(update, clock)
    assert update.power_action_id is not None and update.power_action_id != other.pk


def test_a_send_interrupted_by_a_kill_is_not_repeated(lab, fw_node, engineer, clock):
    update = request(engineer, fw_node, store(engineer, "CPLD", "1.7"))
    # The worker claimed the send and died: the image may or may not have reached the BMC.
    FirmwareUpdate.objects.filter(pk=update.pk).update(state=State.STAGING, sent_at=clock.now)
    clock.advance(minutes=2)
    update, retry = advance(update, clock)  # maybe another worker is still uploading
    assert (update.state, retry) == (State.STAGING, 60.0)
    clock.advance(minutes=10)
    update, retry = advance(update, clock)
    assert (update.state, update.cause, retry) == (State.FAILED, "interrupted", None)
    assert lab.redfish.service(0).tasks == {}  # never sent a second time


def test_a_finished_update_redelivered_does_nothing(applying, clock):
    FirmwareUpdate.objects.filter(pk=applying.pk).update(state=State.FAILED, reason="x")
    update, retry = advance(applying, clock)
    assert (update.state, update.reason, retry) == (State.FAILED, "x", None)


def test_the_sweep_resumes_only_quiet_active_updates(fw_node, engineer, clock, settings):
    settings.FIRMWARE_RESUME_AFTER = 300
    image = store(engineer, "CPLD", "1.8")
    quiet = request(engineer, fw_node, image)
    FirmwareUpdate.objects.filter(pk=quiet.pk).update(
        state=State.RUNNING, activity_at=clock.now - timedelta(minutes=6)
    )
    from tests.factories import NodeFactory

    busy = request(engineer, NodeFactory(site=fw_node.site, bmc_protocol="redfish"), image)
    FirmwareUpdate.objects.filter(pk=busy.pk).update(
        state=State.RUNNING, activity_at=clock.now - timedelta(minutes=1)
    )
    done = request(engineer, NodeFactory(site=fw_node.site, bmc_protocol="redfish"), image)
    FirmwareUpdate.objects.filter(pk=done.pk).update(
        state=State.SUCCEEDED, activity_at=clock.now - timedelta(hours=1)
    )
    assert tracking.firmware_updates_resume(now=clock.now) == [quiet.pk]


def test_the_beat_task_hands_quiet_updates_to_a_worker(fw_node, engineer, monkeypatch):
    update = request(engineer, fw_node, store(engineer, "CPLD", "1.9"))
    FirmwareUpdate.objects.filter(pk=update.pk).update(requested_at="2020-01-01T00:00:00Z")
    sent = []
    monkeypatch.setattr(tasks.firmware_update_advance_task, "delay", sent.append)
    assert tasks.firmware_updates_resume_task() == 1
    assert sent == [update.pk]


def test_the_task_schedules_its_next_step_with_the_bmcs_retry_after_bounded(
    lab, fw_node, engineer, monkeypatch, settings
):
    update = request(engineer, fw_node, store(engineer, "NIC", "22.51.0"))
    scheduled = []
    monkeypatch.setattr(
        tasks.firmware_update_advance_task,
        "apply_async",
        lambda args, countdown: scheduled.append((args, countdown)),
    )
    assert tasks.firmware_update_advance_task(update.pk) == "running"
    assert tasks.firmware_update_advance_task(update.pk) == "running"
    settings.FIRMWARE_POLL_MAX = 2.0
    tasks.firmware_update_advance_task(update.pk)
    assert scheduled == [((update.pk,), 10.0), ((update.pk,), 5.0), ((update.pk,), 2.0)]
