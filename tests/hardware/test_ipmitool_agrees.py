"""An independent client (Debian's ipmitool, lanplus) agrees with the lab BMC and our driver."""

import re
import subprocess

import pytest

from apps.hardware.drivers import BootDevice, driver_for


def ipmitool(lab, index, *args):
    command = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(lab.port(index))]
    command += ["-U", "admin", "-P", "password", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_power_status_and_actions_agree(lab):
    driver = driver_for(lab.endpoint(0))
    assert "Chassis Power is on" in ipmitool(lab, 0, "power", "status")
    ipmitool(lab, 0, "power", "off")
    assert lab.bmc(0).power_state == "off"
    assert driver.power_state().state == "off"
    assert "Chassis Power is off" in ipmitool(lab, 0, "power", "status")
    driver.power("on")
    assert "Chassis Power is on" in ipmitool(lab, 0, "power", "status")
    ipmitool(lab, 0, "power", "cycle")
    assert lab.bmc(0).chassis_controls[-1] == "cycle"


def parse_table(text):
    rows = {}
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_sdr_list_and_sensor_values_agree_with_the_driver(lab):
    lab.bmc(0).load = 0.8
    ours = {s.name: s for s in driver_for(lab.endpoint(0)).sensors()}
    sdr = parse_table(ipmitool(lab, 0, "sdr", "list"))
    sensor = parse_table(ipmitool(lab, 0, "sensor"))
    assert set(sdr) == set(ours) == set(sensor)
    for name, reading in ours.items():
        shown = float(re.match(r"[\d.]+", sdr[name][0]).group())
        assert shown == pytest.approx(reading.value, abs=0.01), name
        assert float(sensor[name][0]) == pytest.approx(reading.value, abs=0.01), name
        assert sdr[name][1] == "ok"
    assert sensor["CPU1 Temp"][6] == "85.000"  # upper non-critical threshold


def test_off_node_shows_no_reading_for_host_sensors(lab):
    lab.bmc(0).set_power("off")
    sdr = parse_table(ipmitool(lab, 0, "sdr", "list"))
    assert sdr["System Power"][0] == "0 Watts"
    assert sdr["CPU1 Temp"][0] == "disabled"  # ipmitool's word for "not scanned while off"


def test_boot_device_agrees_both_ways(lab):
    ipmitool(lab, 0, "chassis", "bootdev", "pxe")
    assert driver_for(lab.endpoint(0)).boot_device().device == "network"
    driver_for(lab.endpoint(0)).set_boot_device(BootDevice("bios", persistent=True))
    shown = ipmitool(lab, 0, "chassis", "bootparam", "get", "5")
    assert "Force Boot into BIOS Setup" in shown
    assert "Options apply to all future boots" in shown


def test_ipmitool_negotiates_suite_17_and_falls_back_to_3(lab):
    assert "Chassis Power is on" in ipmitool(lab, 0, "power", "status")
    lab.bmc(1).faults.suite3_only = True
    assert "Chassis Power is on" in ipmitool(lab, 1, "power", "status")


def test_dcmi_and_fru_agree(lab):
    reading = ipmitool(lab, 0, "dcmi", "power", "reading")
    assert re.search(r"Instantaneous power reading:\s+300 Watts", reading)
    fru = ipmitool(lab, 0, "fru", "print", "0")
    assert re.search(r"Product Serial\s+: HS000000", fru)
    assert driver_for(lab.endpoint(0)).inventory().serial == "HS000000"
