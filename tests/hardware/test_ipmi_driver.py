"""The IPMI adapter against lab BMCs over real UDP."""

import os
import time

import pytest

from apps.hardware.drivers import BmcEndpoint, BmcError, BootDevice, driver_for
from apps.hardware.drivers import ipmi as ipmi_driver
from apps.lab.bmc.node import SENSORS


def sensor_map(driver):
    return {s.name: s for s in driver.sensors()}


@pytest.mark.parametrize(
    ("start", "action", "final", "sent"),
    [
        ("off", "on", "on", ["on"]),
        ("on", "off", "off", ["off"]),
        ("on", "soft", "off", ["soft"]),
        ("on", "reset", "on", ["reset"]),
        ("on", "cycle", "on", ["cycle"]),
    ],
)
def test_each_power_action_reaches_its_state(lab, start, action, final, sent):
    bmc = lab.bmc(0)
    bmc.set_power(start)
    boots = bmc.boot_count
    result = driver_for(lab.endpoint(0)).power(action)
    assert result.changed is True
    assert bmc.chassis_controls == sent
    assert driver_for(lab.endpoint(0)).power_state().state == final
    if action in ("on", "reset", "cycle"):
        assert bmc.boot_count == boots + 1


@pytest.mark.parametrize(("start", "action"), [("on", "on"), ("off", "off"), ("off", "soft")])
def test_asking_for_the_current_state_sends_nothing(lab, start, action):
    lab.bmc(0).set_power(start)
    result = driver_for(lab.endpoint(0)).power(action)
    assert (result.changed, result.state) == (False, start)
    assert lab.bmc(0).chassis_controls == []


@pytest.mark.parametrize("action", ["reset", "cycle"])
def test_resetting_an_off_node_is_refused_by_the_bmc(lab, action):
    lab.bmc(0).set_power("off")
    with pytest.raises(BmcError) as caught:
        driver_for(lab.endpoint(0)).power(action)
    assert (caught.value.cause, caught.value.transient) == ("bad_power_state", False)
    assert lab.bmc(0).chassis_controls == [action]


def test_unknown_action_and_boot_device_are_bad_requests(lab):
    with pytest.raises(BmcError) as caught:
        driver_for(lab.endpoint(0)).power("explode")
    assert caught.value.cause == "bad_request"
    with pytest.raises(BmcError):
        BootDevice("floppy-disk")


def test_wrong_password_is_a_fatal_credentials_error(lab):
    with pytest.raises(BmcError) as caught:
        driver_for(lab.endpoint(0, password="wrong")).power_state()
    assert (caught.value.cause, caught.value.transient) == ("bad_credentials", False)


def test_rotated_bmc_credentials_are_reported_as_bad_credentials(lab):
    lab.bmc(1).faults.wrong_credentials = True
    with pytest.raises(BmcError) as caught:
        driver_for(lab.endpoint(1)).power_state()
    assert caught.value.cause == "bad_credentials"


def test_unknown_user_is_a_credentials_error(lab):
    with pytest.raises(BmcError) as caught:
        driver_for(lab.endpoint(0, username="nobody")).power_state()
    assert caught.value.cause == "bad_credentials"


def test_unreachable_bmc_fails_transient_within_its_timeout(lab):
    lab.bmc(2).faults.unreachable = True
    started = time.monotonic()
    with pytest.raises(BmcError) as caught:
        driver_for(lab.endpoint(2), timeout=1.0).power_state()
    assert (caught.value.cause, caught.value.transient) == ("unreachable", True)
    assert time.monotonic() - started < 6  # generous: the budget is 1 s, pyghmi alone needs 5+


def test_a_cached_session_to_a_bmc_that_died_fails_bounded_then_recovers(lab):
    driver = driver_for(lab.endpoint(0), timeout=1.0)
    assert driver.power_state().state == "on"
    lab.bmc(0).faults.unreachable = True
    started = time.monotonic()
    with pytest.raises(BmcError) as caught:
        driver.power_state()
    assert caught.value.transient is True
    assert time.monotonic() - started < 10  # pyghmi alone needs about 28 s
    lab.bmc(0).faults.unreachable = False
    assert driver.power_state().state == "on"


def test_slow_bmc_still_answers(lab):
    lab.bmc(0).faults.slow_ms = 150
    driver = driver_for(lab.endpoint(0))
    assert driver.power_state().state == "on"
    assert driver.power("off").changed


def test_full_session_table_is_a_transient_no_slot_error(lab):
    lab.bmc(3).faults.sessions_full = True
    with pytest.raises(BmcError) as caught:
        driver_for(lab.endpoint(3)).power_state()
    assert (caught.value.cause, caught.value.transient) == ("no_session_slot", True)


def test_sessions_are_cached_per_bmc_and_rebuilt_after_idle_expiry(lab_bmc_clock, make_lab):
    lab = make_lab(count=1, idle_timeout=0.5)
    driver = driver_for(lab.endpoint(0), timeout=1.0)
    driver.power_state()
    driver.power_state()
    assert len(lab.bmc(0).sessions) == 1
    first = next(iter(lab.bmc(0).sessions))
    lab_bmc_clock.advance(1.0)  # the BMC forgets the idle session silently
    lab_bmc_clock.settle(lab)
    deadline = time.monotonic() + 60  # bounds a stuck lab only: housekeeping is due now
    while lab.bmc(0).sessions and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not lab.bmc(0).sessions
    assert driver.power_state().state == "on"
    assert list(lab.bmc(0).sessions) != [first]


def test_suite_3_only_bmc_is_used_through_the_fallback(lab):
    lab.bmc(1).faults.suite3_only = True
    assert driver_for(lab.endpoint(1)).power_state().state == "on"
    assert [s.suite for s in lab.bmc(1).sessions.values()] == [3]
    driver_for(lab.endpoint(0)).power_state()
    assert [s.suite for s in lab.bmc(0).sessions.values()] == [17]


def test_no_dcmi_means_no_system_power_and_nothing_else_breaks(lab):
    lab.bmc(0).faults.no_dcmi = True
    driver = driver_for(lab.endpoint(0))
    assert driver.system_power_watts() is None
    assert driver.power_state().state == "on"
    assert sensor_map(driver)["System Power"].value == 300.0


def test_dcmi_power_follows_load_and_power_state(lab):
    bmc = lab.bmc(0)
    bmc.load = 0.9
    driver = driver_for(lab.endpoint(0))
    assert driver.system_power_watts() == pytest.approx(450, abs=1)
    bmc.set_power("off")
    assert driver.system_power_watts() == 0


def test_capped_fru_reads_still_give_the_inventory(lab):
    lab.bmc(0).faults.fru_read_cap = 32
    inventory = driver_for(lab.endpoint(0)).inventory()
    assert inventory.serial == "HS000000"
    assert inventory.manufacturer == "Heatsite Lab"
    assert inventory.chassis_serial == "CHS000000"


def test_sensors_follow_the_power_state_and_the_water_loop(lab):
    bmc = lab.bmc(0)
    bmc.load = 1.0
    lab.loop_return_c = 45.0
    driver = driver_for(lab.endpoint(0))
    on = sensor_map(driver)
    assert on["System Power"].value == 500.0
    assert on["Water Inlet"].value == 45.0
    # 500 W into 1.5 l/min of water: about 4.8 K warmer at the outlet (0.5 K resolution)
    assert on["Water Outlet"].value == pytest.approx(45 + 500 / (0.025 * 4186), abs=0.5)
    assert on["CPU1 Temp"].value > on["Water Outlet"].value
    assert {s.kind for s in on.values()} == {"temperature", "fan", "voltage", "power"}
    # full load on 45 °C water pushes the CPUs past their 85 °C warning threshold
    assert on["CPU1 Temp"].health == "warning"
    assert all(s.health == "ok" for s in on.values() if not s.name.startswith("CPU"))
    bmc.set_power("off")
    off = sensor_map(driver)
    assert off["System Power"].value == 0.0
    assert off["Water Outlet"].value == off["Water Inlet"].value
    assert off["CPU1 Temp"].value is None and off["CPU1 Temp"].health == "unknown"
    assert len(off) == len(SENSORS)


def test_hot_water_is_reported_as_critical(lab):
    lab.loop_return_c = 70.0
    readings = sensor_map(driver_for(lab.endpoint(0)))
    assert readings["Water Inlet"].health == "critical"  # above 65 °C
    assert readings["Water Outlet"].health == "warning"  # 73 °C: above 65, below 75


@pytest.mark.parametrize(
    "boot",
    [
        BootDevice("network", persistent=False, uefi=True),
        BootDevice("disk", persistent=True, uefi=False),
        BootDevice("bios", persistent=False, uefi=False),
        BootDevice("default"),
    ],
)
def test_boot_device_round_trips(lab, boot):
    driver = driver_for(lab.endpoint(0))
    assert driver.set_boot_device(boot) == boot
    assert driver.boot_device() == boot
    expected_device = {"disk": "disk", "bios": "bios"}.get(boot.device, boot.device)
    assert lab.bmc(0).boot["device"] == expected_device


def test_firmware_versions_come_from_get_device_id(lab):
    bmc = lab.bmc(0)
    bmc.firmware_major, bmc.firmware_minor = 3, 7
    versions = {v.component: v.version for v in driver_for(lab.endpoint(0)).firmware()}
    assert versions == {"BMC Version": "3.07", "BMC auxiliary": "1.4.0.0"}  # BIOS 1.4.0


def test_endpoint_repr_hides_the_password():
    endpoint = BmcEndpoint("10.0.0.5", 623, "admin", "s3cret-pass")
    assert "s3cret" not in repr(endpoint)
    assert "s3cret" not in str(endpoint)


def test_a_redfish_bmc_without_an_accepted_certificate_is_not_contacted():
    driver = driver_for(BmcEndpoint("10.0.0.5", 443, protocol="redfish"))
    with pytest.raises(BmcError) as caught:
        driver.power_state()
    assert (caught.value.cause, caught.value.transient) == ("certificate_unknown", False)


def test_http_boot_is_not_an_ipmi_boot_device(lab):
    with pytest.raises(BmcError) as caught:
        driver_for(lab.endpoint(0)).set_boot_device(BootDevice("http", uefi=True))
    assert caught.value.cause == "not_supported"


def test_long_user_names_are_refused_before_touching_the_network():
    endpoint = BmcEndpoint("127.0.0.1", 9, "a-user-name-longer-than-16", "x")
    with pytest.raises(BmcError) as caught:
        driver_for(endpoint).power_state()
    assert caught.value.cause == "bad_credentials"


@pytest.mark.parametrize(
    ("message", "code", "cause"),
    [
        ("Incorrect password provided", 0, "bad_credentials"),
        ("Unauthorized name in RAKP2", 0, "bad_credentials"),
        ("Insufficient resources to create new session", 0, "no_session_slot"),
        ("Invalid command", 0xC1, "not_supported"),
        ("whatever", 0xD5, "bad_power_state"),
        ("Command not supported in present state", 0, "bad_power_state"),
        ("timeout", 0xFFFF, "timeout"),
        ("Session no longer connected", 0, "timeout"),
        ("Unspecified", 0xFF, "protocol"),
    ],
)
def test_pyghmi_errors_map_to_causes(message, code, cause):
    from pyghmi.exceptions import IpmiException

    assert ipmi_driver.map_error(IpmiException(message, code)).cause == cause


def test_a_login_that_never_answers_is_unreachable_not_timeout():
    from pyghmi.exceptions import IpmiException

    assert ipmi_driver.map_error(IpmiException("None"), during_login=True).cause == "unreachable"


def test_retransmits_fit_in_the_budget():
    assert ipmi_driver.retransmits_within(1.0) == 1
    assert ipmi_driver.retransmits_within(3.0) == 2
    assert ipmi_driver.retransmits_within(6.0) == 3


def test_driver_works_in_a_forked_child(lab):
    driver = driver_for(lab.endpoint(0))
    assert driver.power_state().state == "on"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            code = 0 if driver_for(lab.endpoint(1)).power_state().state == "on" else 3
            code = code or (0 if driver.power_state().state == "on" else 4)
        except BaseException:
            code = 5
        os._exit(code)
    deadline = time.monotonic() + 120  # bounds a hung child only; it answers in milliseconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.waitstatus_to_exitcode(status) == 0
    assert driver.power_state().state == "on"  # the parent's session still works
