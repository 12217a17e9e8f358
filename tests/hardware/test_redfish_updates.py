"""Firmware update primitives of the Redfish adapter against the lab's UpdateService (push and
SimpleUpdate, tasks on the lab's injectable clock, its fault switches) and sushy-emulator's
SimpleUpdate (204 pointing at a static task). The outcome is always read back as versions."""

import io

import pytest

from apps.hardware.drivers import BmcError, TaskRef, driver_for
from apps.hardware.drivers.redfish import transport
from apps.lab.redfish.updates import INVENTORY, build_image
from tests.hardware.test_redfish_driver_lab import endpoint

UPDATE_SECONDS = 30.0


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=1)
    lab.redfish.service(0).update_seconds = UPDATE_SECONDS
    yield lab
    transport.close_all()


def versions(driver) -> dict[str, str]:
    return {f.id: f.version for f in driver.firmware()}


def test_a_pushed_image_runs_with_progress_completes_once_and_applies_at_reset(
    lab, lab_redfish_clock
):
    driver = driver_for(endpoint(lab))
    ref = driver.firmware_update_push(
        build_image("NIC", "22.31.6"), targets=(f"{INVENTORY}/NIC",), apply_time="OnReset"
    )
    assert ref.monitor.startswith("/redfish/v1/TaskService/TaskMonitors/")
    assert ref.task.startswith("/redfish/v1/TaskService/Tasks/")
    running = driver.task_status(ref)
    assert (running.state, running.percent, running.retry_after) == ("running", 0, 5.0)
    lab_redfish_clock.advance(UPDATE_SECONDS / 2)
    assert driver.task_status(ref).percent == 50
    lab_redfish_clock.advance(UPDATE_SECONDS)
    done = driver.task_status(ref)  # the monitor's one 204, the task says how
    assert (done.state, done.bmc_status) == ("completed", "OK")
    assert "staged" in done.message
    again = driver.task_status(ref)  # the monitor is 404 now; the task resource remains
    assert again.state == "completed"
    assert versions(driver)["NIC"] != "22.31.6"  # not before the reset
    driver.power("reset")
    assert versions(driver)["NIC"] == "22.31.6"


def test_a_rejected_image_is_a_failed_task_with_the_bmcs_reason(lab):
    driver = driver_for(endpoint(lab))
    ref = driver.firmware_update_push(build_image("BIOS", "2.4.1", sku="OTHER-SKU"))
    failed = driver.task_status(ref)
    assert (failed.state, failed.bmc_state, failed.bmc_status) == (
        "failed",
        "Exception",
        "Critical",
    )
    assert "SKU" in failed.message


def test_a_stuck_task_keeps_running_at_its_percentage(lab, lab_redfish_clock):
    lab.bmc(0).faults.task_stuck = True
    driver = driver_for(endpoint(lab))
    ref = driver.firmware_update_push(build_image("CPLD", "1.2"))
    lab_redfish_clock.advance(UPDATE_SECONDS * 10)
    stuck = driver.task_status(ref)
    assert (stuck.state, stuck.percent) == ("running", 42)


def test_a_monitor_gone_right_after_completion_falls_back_to_the_task(lab, lab_redfish_clock):
    lab.bmc(0).faults.monitor_gone = True
    driver = driver_for(endpoint(lab))
    ref = driver.firmware_update_push(build_image("CPLD", "1.3"))
    lab_redfish_clock.advance(UPDATE_SECONDS)
    assert driver.task_status(ref).state == "completed"
    assert driver.task_status(TaskRef(monitor=ref.monitor)).state == "gone"


def test_a_task_forgotten_in_a_bmc_reboot_is_gone_not_failed_or_done(lab):
    driver = driver_for(endpoint(lab))
    ref = driver.firmware_update_push(build_image("BMC", "3.10"))
    lab.redfish.service(0).reboot_bmc()  # tasks and sessions are gone
    gone = driver.task_status(ref)
    assert gone.state == "gone" and "versions" in gone.message


def test_simple_update_pulls_the_image_uri(lab, lab_redfish_clock):
    image = build_image("BIOS", "3.0.7")
    fetched = []

    def opener(uri, timeout):
        fetched.append(uri)
        return io.BytesIO(image)

    service = lab.redfish.service(0)
    service.image_opener = staticmethod(opener)
    driver = driver_for(endpoint(lab))
    ref = driver.firmware_update_simple(
        "https://heatsite.invalid/fw/once/abc123.bin", targets=(f"{INVENTORY}/BIOS",)
    )
    task = service.tasks[ref.task.rsplit("/", 1)[1]]
    assert task.fetched.wait(30)
    assert fetched == ["https://heatsite.invalid/fw/once/abc123.bin"]
    lab_redfish_clock.advance(UPDATE_SECONDS)
    assert driver.task_status(ref).state == "completed"
    driver.power("reset")
    assert versions(driver)["BIOS"] == "3.0.7"


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda d: d.firmware_update_push(b"x", apply_time="Later"), "apply time"),
        (lambda d: d.firmware_update_push(b""), "empty"),
        (lambda d: d.firmware_update_push(b"x", targets="BIOS"), "Targets"),
        (lambda d: d.firmware_update_simple("/fw/relative.bin"), "absolute URL"),
        (lambda d: d.firmware_update_simple("ftp://x.invalid/a.bin"), "not FTP"),
        (lambda d: d.firmware_update_push(b"x" * (8 * 1024 * 1024 + 1)), "at most"),
    ],
)
def test_bad_update_requests_are_refused_before_sending(lab, call, words):
    with pytest.raises(BmcError) as caught:
        call(driver_for(endpoint(lab)))
    assert caught.value.cause in ("bad_request", "not_supported")
    assert words in caught.value.message
    assert lab.redfish.service(0).tasks == {}


def test_an_apply_time_the_bmc_does_not_offer_is_refused_in_its_words(lab):
    with pytest.raises(BmcError) as caught:
        driver_for(endpoint(lab)).firmware_update_push(
            build_image("NIC", "22.31.7"), apply_time="Immediate"
        )
    assert caught.value.cause == "bad_request" and "The BMC says:" in caught.value.message


# --- sushy-emulator -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    from tests.hardware.redfish_peers import Emulator

    service = Emulator(tmp_path_factory.mktemp("emulator-updates"))
    yield service
    transport.close_all()
    service.stop()


def test_the_emulators_simple_update_is_followed_to_its_task_and_read_back(emulator):
    from tests.hardware.redfish_peers import SYSTEM_UUID

    driver = driver_for(emulator.endpoint())
    before = versions(driver)["BIOS"]
    ref = driver.firmware_update_simple(
        "https://heatsite.invalid/fw/bios.bin", targets=(f"/redfish/v1/Systems/{SYSTEM_UUID}",)
    )
    # 204 with Location at the task itself (no monitor of its own)
    assert ref.task == "/redfish/v1/TaskService/Tasks/42"
    done = driver.task_status(ref)
    assert (done.state, done.percent, done.bmc_status) == ("completed", 100, "OK")
    assert versions(driver)["BIOS"] != before  # the outcome is the version read back


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("999999", 3600.0),  # bounded
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # an HTTP date in the past: now
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(header, seconds):
    from apps.hardware.drivers.redfish.update import _retry_after

    assert _retry_after(header) == seconds
