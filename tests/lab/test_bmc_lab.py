"""The lab BMCs themselves: serial console, power transitions, sessions, CLI."""

import json
import time

import pytest
from pyghmi.ipmi import console

from apps.hardware.drivers import BmcError, driver_for
from apps.hardware.drivers import ipmi as ipmi_driver
from apps.lab.bmc import LabBmcServer, cli


@pytest.fixture
def lab():
    with LabBmcServer(count=2) as server:
        yield server
        ipmi_driver.close_all()


def wait_until(predicate, seconds=60.0):
    """Drives pyghmi's loop until ``predicate()``; the bound only stops a broken run."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        console.Console.wait_for_rsp(0.05)
    return False


def open_console(lab, index):
    received = []
    sol = console.Console(
        "127.0.0.1", "admin", "password", received.append, port=lab.port(index), force=True
    )
    assert wait_until(lambda: sol.connected or sol.broken)
    assert not sol.broken, received
    return sol, received


def text(received):
    return b"".join(r if isinstance(r, bytes) else b"" for r in received).decode()


def test_console_shows_the_boot_banner_after_power_on_and_the_shell_answers(lab):
    lab.bmc(0).set_power("off")
    sol, received = open_console(lab, 0)
    try:
        driver_for(lab.endpoint(0)).power("on")
        assert wait_until(lambda: "login: root" in text(received))
        assert "Booting lab-node-001" in text(received)
        sol.send_data(b"uname\r")
        assert wait_until(lambda: "Linux lab-node-001" in text(received))
        sol.send_data(b"echo heat reuse\r")
        assert wait_until(lambda: "\r\nheat reuse\r\n" in text(received))
        sol.send_data(b"power\r")
        assert wait_until(lambda: "power on, 300 W" in text(received))
    finally:
        sol.close()


def test_a_reset_prints_the_banner_again(lab):
    sol, received = open_console(lab, 1)
    try:
        driver_for(lab.endpoint(1)).power("reset")
        assert wait_until(lambda: "(boot #2)" in text(received))
    finally:
        sol.close()


def test_power_transitions_take_the_configured_delay(lab_bmc_clock):
    with LabBmcServer(count=1, power_delay=0.3) as lab:
        driver = driver_for(lab.endpoint(0))
        assert driver.power("off").changed
        assert lab.bmc(0).pending_power == "off"
        assert driver.power_state().state == "on"  # still running down
        lab_bmc_clock.advance(0.29)
        lab_bmc_clock.settle(lab)
        assert (lab.bmc(0).pending_power, lab.bmc(0).power_state) == ("off", "on")
        lab_bmc_clock.advance(0.01)
        lab_bmc_clock.settle(lab)
        assert (lab.bmc(0).pending_power, lab.bmc(0).power_state) == (None, "off")
        assert driver.power_state().state == "off"
        ipmi_driver.close_all()


def test_a_stuck_power_action_is_accepted_but_never_completes(lab):
    lab.bmc(0).faults.stuck_power = True
    driver = driver_for(lab.endpoint(0))
    assert driver.power("off").changed
    assert driver.power_state().state == "on"
    assert lab.bmc(0).chassis_controls == ["off"]


def test_session_limit_and_idle_expiry(lab_bmc_clock):
    with LabBmcServer(count=1, max_sessions=1, idle_timeout=0.5) as lab:
        first = driver_for(lab.endpoint(0))
        assert first.power_state().state == "on"
        with pytest.raises(BmcError) as caught:
            driver_for(lab.endpoint(0, username="admin2")).power_state()
        assert caught.value.cause in ("bad_credentials", "no_session_slot")
        assert len(lab.bmc(0).sessions) == 1  # the lab's clock stands still: not idle yet
        lab_bmc_clock.advance(1.0)  # past the idle timeout and a housekeeping period
        assert wait_until(lambda: not lab.bmc(0).sessions)
        assert first.power_state().state == "on"  # rebuilt after the BMC forgot it
        ipmi_driver.close_all()


def test_many_bmcs_on_consecutive_ports_with_their_own_state():
    with LabBmcServer(count=20) as lab:
        ports = [lab.port(i) for i in range(20)]
        assert ports == list(range(ports[0], ports[0] + 20))
        lab.bmc(7).set_power("off")
        states = [driver_for(lab.endpoint(i)).power_state().state for i in range(20)]
        assert states == ["off" if i == 7 else "on" for i in range(20)]
        ipmi_driver.close_all()


def test_config_file_sets_names_credentials_and_power(tmp_path):
    config = tmp_path / "lab.json"
    config.write_text(
        json.dumps(
            [
                {"port": 0, "name": "boiler-a-1", "username": "ops", "password": "pw-a"},
                {"port": 1, "name": "boiler-a-2", "nominal_power_w": 800},
            ]
        )
    )
    base, entries = cli.load_config(str(config))
    assert (base, [e["name"] for e in entries]) == (0, ["boiler-a-1", "boiler-a-2"])
    with LabBmcServer(configs=entries) as lab:
        assert lab.bmc(0).name == "boiler-a-1"
        assert driver_for(lab.endpoint(0)).power_state().state == "on"
        assert lab.endpoint(0).username == "ops"
        assert driver_for(lab.endpoint(1)).system_power_watts() == pytest.approx(480)
        ipmi_driver.close_all()


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '[{"name": "x"}]', '[{"port": 5}, {"port": 7}]'],
)
def test_bad_config_files_give_one_clear_error(tmp_path, content):
    config = tmp_path / "lab.json"
    config.write_text(content)
    with pytest.raises(cli.ConfigError):
        cli.load_config(str(config))


def test_cli_arguments_build_faulty_labs():
    args = cli.build_parser().parse_args(
        ["--count", "3", "--base-port", "0", "--suites", "3", "--no-dcmi", "--slow-ms", "20"]
    )
    lab = cli.server_from_args(args)
    with lab:
        bmc = lab.bmc(2)
        assert (bmc.faults.suite3_only, bmc.faults.no_dcmi, bmc.faults.slow_ms) == (True, True, 20)
        assert driver_for(lab.endpoint(2)).system_power_watts() is None
        ipmi_driver.close_all()
