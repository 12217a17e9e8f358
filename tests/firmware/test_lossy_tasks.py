"""Task monitors are lossy: each of the lab's fault switches, and what the update makes of it.
The BMC's time is the lab clock, Heatsite's the test's `clock`: nothing sleeps."""

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


def _to_reset(update, clock):
    """From applying: the reset requested, run by the power worker, then verifying."""
    update, _ = advance(update, clock)
    assert update.power_action is not None
    run_power(update)
    update, _ = advance(update, clock)
    assert update.state == State.VERIFYING
    return update


def test_a_monitor_gone_after_completion_is_no_failure_the_version_decides(
    lab, fw_node, engineer, clock, lab_redfish_clock
):
    lab.bmc(0).faults.monitor_gone = True
    update, _ = advance(request(engineer, fw_node, store(engineer, "CPLD", "1.3")), clock)
    # A BMC that names only its task monitor (OpenBMC's Location): no task resource to fall to.
    FirmwareUpdate.objects.filter(pk=update.pk).update(task_uri="")
    lab_redfish_clock.advance(UPDATE_SECONDS)
    update, _ = advance(update, clock)
    assert update.state == State.APPLYING  # 404, not failed: staged, maybe; the reset decides
    assert update.task_completed is False
    update = _to_reset(update, clock)
    update, _ = advance(update, clock)
    assert (update.state, update.version_read_back) == (State.SUCCEEDED, "1.3")


def test_a_task_forgotten_in_a_bmc_reboot_fails_only_once_the_version_says_so(
    lab, fw_node, engineer, clock, lab_redfish_clock
):
    before = running_version(fw_node, "BIOS")
    update, _ = advance(request(engineer, fw_node, store(engineer, "BIOS", "3.1.0")), clock)
    lab.redfish.service(0).reboot_bmc()  # tasks and staged images are gone
    update, _ = advance(update, clock)
    assert update.state == State.APPLYING
    update = _to_reset(update, clock)
    update, retry = advance(update, clock)  # the host may still be booting: look again
    assert (update.state, update.version_read_back, retry) == (State.VERIFYING, before, 10.0)
    clock.advance(minutes=6)
    update, _ = advance(update, clock)
    assert (update.state, update.cause) == (State.FAILED, "not_applied")
    assert update.reason == (
        f"The BMC lost track of the update and still runs {before} (expected 3.1.0)."
    )


def test_a_task_forgotten_after_the_update_ran_succeeds_without_a_reset_of_its_own(
    lab, fw_node, engineer, clock, lab_redfish_clock
):
    update, _ = advance(request(engineer, fw_node, store(engineer, "NIC", "22.40.1")), clock)
    lab_redfish_clock.advance(UPDATE_SECONDS)
    # Someone reset the node (the image activates), then the BMC rebooted and forgot its tasks.
    from apps.hardware.drivers import driver_for
    from apps.hardware.protocols import endpoint_for

    driver_for(endpoint_for(fw_node, "redfish")).power("reset")
    lab.redfish.service(0).reboot_bmc()
    update, _ = advance(update, clock)
    assert (update.state, update.version_read_back) == (State.SUCCEEDED, "22.40.1")
    assert "forgot" in update.reason
    assert not PowerAction.objects.filter(node=fw_node).exists()


def test_a_critical_task_fails_with_the_bmcs_message(lab, fw_node, engineer, clock):
    image = store(engineer, "BIOS", "3.2.0", sku="HX-900-AIR")  # Heatsite cannot know the SKU
    update, _ = advance(request(engineer, fw_node, image), clock)
    update, retry = advance(update, clock)
    assert (update.state, update.cause, retry) == (State.FAILED, "bmc_task", None)
    assert (update.task_state, update.task_status) == ("Exception", "Critical")
    assert "SKU" in update.reason and "HX-900-AIR" in update.reason
    assert update.power_action is None  # nothing to apply: never reset


def test_an_image_the_bmc_rejects_fails_with_its_message(lab, fw_node, engineer, clock):
    lab.bmc(0).faults.image_rejected = True
    update, _ = advance(request(engineer, fw_node, store(engineer, "CPLD", "1.5")), clock)
    update, _ = advance(update, clock)
    assert update.state == State.FAILED
    assert update.reason == "The BMC's task failed: image rejected by the BMC (fault switch)"


def test_a_stuck_task_fails_after_the_bound_not_before(
    lab, fw_node, engineer, clock, lab_redfish_clock, settings
):
    settings.FIRMWARE_STUCK_MINUTES = 15
    lab.bmc(0).faults.task_stuck = True
    update, _ = advance(request(engineer, fw_node, store(engineer, "BMC", "2.50")), clock)
    lab_redfish_clock.advance(UPDATE_SECONDS)
    clock.advance(minutes=1)
    update, _ = advance(update, clock)
    assert (update.state, update.percent) == (State.RUNNING, 42)
    for _ in range(14):  # polled every minute: still 42 %, under the bound
        lab_redfish_clock.advance(60)
        clock.advance(minutes=1)
        update, _ = advance(update, clock)
    assert (update.state, update.percent) == (State.RUNNING, 42)
    lab_redfish_clock.advance(60)
    clock.advance(minutes=1)
    update, retry = advance(update, clock)
    assert (update.state, update.cause, retry) == (State.FAILED, "stuck", None)
    assert update.reason.startswith("Stuck at 42 %: no progress for 15 min")
    assert update.power_action is None


def test_a_completed_task_whose_version_did_not_change_fails_in_plain_words(
    lab, fw_node, engineer, clock, lab_redfish_clock
):
    lab.bmc(0).faults.update_noop = True
    before = running_version(fw_node, "NIC")
    update, _ = advance(request(engineer, fw_node, store(engineer, "NIC", "22.41.0")), clock)
    lab_redfish_clock.advance(UPDATE_SECONDS)
    update, _ = advance(update, clock)
    assert (update.state, update.task_completed, update.task_status) == (
        State.APPLYING,
        True,
        "OK",
    )
    update = _to_reset(update, clock)
    clock.advance(minutes=5)
    update, _ = advance(update, clock)
    assert (update.state, update.cause) == (State.FAILED, "version_unchanged")
    assert update.reason == (
        f"The BMC reported success but still runs {before} (expected 22.41.0)."
    )


def test_a_silent_bmc_is_waited_for_then_the_update_fails_with_the_reason(
    lab, fw_node, engineer, clock, settings
):
    update, _ = advance(request(engineer, fw_node, store(engineer, "CPLD", "1.6")), clock)
    settings.BMC_TIMEOUT = 0.5  # the lab swallows requests: how long each one is waited for
    lab.bmc(0).faults.unreachable = True
    update, retry = advance(update, clock)
    assert (update.state, update.lost_since, retry) == (State.RUNNING, clock.now, 10.0)
    clock.advance(minutes=9)
    update, _ = advance(update, clock)
    assert update.state == State.RUNNING  # rebooting BMCs take minutes
    clock.advance(minutes=2)
    update, _ = advance(update, clock)
    assert (update.state, update.cause) == (State.FAILED, "timeout")
    assert update.reason.startswith("The BMC did not answer for 10 min")


def test_a_bmc_silent_after_the_reset_is_waited_for_and_each_silence_counted_afresh(
    lab, fw_node, engineer, clock, lab_redfish_clock, settings
):
    settings.FIRMWARE_VERIFY_MINUTES = 30
    lab.bmc(0).faults.update_noop = True  # the version never moves: verifying keeps looking
    update, _ = advance(request(engineer, fw_node, store(engineer, "CPLD", "1.10")), clock)
    lab_redfish_clock.advance(UPDATE_SECONDS)
    update, _ = advance(update, clock)
    update = _to_reset(update, clock)
    settings.BMC_TIMEOUT = 0.5
    lab.bmc(0).faults.unreachable = True  # e.g. the BMC restarts
    update, retry = advance(update, clock)
    assert (update.state, update.lost_since, retry) == (State.VERIFYING, clock.now, 10.0)
    lab.bmc(0).faults.unreachable = False
    clock.advance(minutes=2)
    update, _ = advance(update, clock)  # it answers (old version, within the grace)
    assert (update.state, update.lost_since) == (State.VERIFYING, None)
    lab.bmc(0).faults.unreachable = True
    clock.advance(minutes=9)  # 11 min after the first silence, but this one just began
    update, _ = advance(update, clock)
    assert (update.state, update.lost_since) == (State.VERIFYING, clock.now)
