"""The Redfish adapter against the lab's Redfish face (sessions, faults, both faces agreeing)."""

import pytest

from apps.hardware.drivers import BmcEndpoint, BmcError, driver_for
from apps.hardware.drivers.redfish import probe, transport, wire


@pytest.fixture
def lab(make_dual_lab):
    lab = make_dual_lab(count=2)
    yield lab
    transport.close_all()


def endpoint(lab, index=0, **changes) -> BmcEndpoint:
    face = lab.redfish.endpoint(index)
    values = {
        "host": face.host,
        "port": face.port,
        "username": face.username,
        "password": face.password,
        "protocol": "redfish",
        "tls_fingerprint": face.fingerprint,
    }
    return BmcEndpoint(**(values | changes))


def test_one_session_serves_many_calls_and_is_logged_out_at_the_end(lab):
    for _ in range(5):
        driver = driver_for(endpoint(lab))
        driver.power_state()
        driver.system_power_watts()
    assert len(lab.redfish.service(0).sessions) == 1
    transport.close_all()
    assert len(lab.redfish.service(0).sessions) == 0


def test_an_expired_session_is_renewed_once(lab, lab_redfish_clock):
    driver = driver_for(endpoint(lab))
    driver.power_state()
    first = set(lab.redfish.service(0).sessions)
    lab_redfish_clock.advance(lab.redfish.service(0).session_timeout + 1)
    assert driver.power_state().state == "on"
    renewed = set(lab.redfish.service(0).sessions)
    assert len(renewed) == 1 and renewed != first


def test_a_full_session_table_is_a_transient_no_slot_error_not_basic_auth(lab):
    lab.bmc(1).faults.sessions_full = True
    with pytest.raises(BmcError) as caught:
        driver_for(endpoint(lab, 1)).power_state()
    assert (caught.value.cause, caught.value.transient) == ("no_session_slot", True)
    assert (
        "The BMC says:" in caught.value.message and "simultaneous sessions" in caught.value.message
    )


def test_rotated_credentials_are_a_fatal_credentials_error(lab):
    lab.bmc(1).faults.wrong_credentials = True
    with pytest.raises(BmcError) as caught:
        driver_for(endpoint(lab, 1)).power_state()
    assert (caught.value.cause, caught.value.transient) == ("bad_credentials", False)


def test_another_bmcs_certificate_is_refused(lab):
    other = lab.redfish.endpoint(1).fingerprint
    with pytest.raises(BmcError) as caught:
        driver_for(endpoint(lab, 0, tls_fingerprint=other)).power_state()
    assert caught.value.cause == "certificate_changed"
    assert lab.redfish.service(0).sessions == {}


def test_firmware_inventory_lists_every_component(lab):
    bmc = lab.bmc(0)
    components = {f.id: f for f in driver_for(endpoint(lab)).firmware()}
    assert {name: c.version for name, c in components.items()} == {
        "BMC": bmc.bmc_version,
        "BIOS": bmc.bios_version,
        "NIC": bmc.nic_firmware,
        "CPLD": bmc.cpld_version,
    }
    assert all(c.updateable is True for c in components.values())
    assert components["BIOS"].related == ("/redfish/v1/Systems/1",)


def test_both_faces_read_the_same_node(lab):
    ipmi = driver_for(lab.ipmi.endpoint(0))
    redfish = driver_for(endpoint(lab))
    assert redfish.system_power_watts() == ipmi.system_power_watts()
    by_name = {s.name: s for s in ipmi.sensors()}
    readings = redfish.sensors()
    shared = [s for s in readings if s.name in by_name]
    assert len(shared) >= 3
    for reading in shared:
        ipmi_reading = by_name[reading.name]
        assert reading.value == pytest.approx(ipmi_reading.value, abs=0.01), reading.name
        assert (reading.kind, reading.unit) == (ipmi_reading.kind, ipmi_reading.unit)
    names = {s.name for s in readings}
    assert any("supply temperature" in name for name in names)  # the coolant loop
    redfish_fru, ipmi_fru = redfish.inventory(), ipmi.inventory()
    assert redfish_fru.serial == ipmi_fru.serial
    assert redfish_fru.manufacturer == ipmi_fru.manufacturer
    lab.ipmi.loop_return_c = 70.0  # hot water: IPMI reports it critical, and so must Redfish
    hot = {s.name: s.health for s in redfish.sensors()}
    assert hot["Water Inlet"] == "critical"
    assert {s.name: s.health for s in ipmi.sensors()}["Water Inlet"] == "critical"
    lab.bmc(0).set_power("off")
    assert redfish.power_state().state == "off"
    redfish.power("on")
    assert ipmi.power_state().state == "on"


def test_probing_tells_a_redfish_face_from_an_ipmi_only_port(lab):
    face = lab.redfish.endpoint(0)
    found = probe(face.host, face.port, timeout=5)
    assert found is not None and found.certificate.fingerprint == face.fingerprint
    ipmi_only = lab.ipmi.endpoint(0)
    assert probe(ipmi_only.host, ipmi_only.port, timeout=2) is None


# --- BIOS, log, accounts -------------------------------------------------------------------


def test_bios_changes_are_pending_until_the_next_reset(lab):
    driver = driver_for(endpoint(lab))
    before = driver.bios()
    assert before.value("ProcTurboMode") == "Enabled" and before.pending == {}
    assert before.apply_times == ("OnReset",)
    # the registry, found through /redfish/v1/Registries, names and bounds the attributes
    fan = next(a for a in before.attributes if a.name == "FanMinimumPercent")
    assert (fan.display_name, fan.type, fan.lower, fan.upper) == (
        "Minimum Fan Speed (%)",
        "Integer",
        0,
        100,
    )
    memory = next(a for a in before.attributes if a.name == "SystemMemorySize")
    assert memory.read_only and memory.display_name == "System Memory Size"
    staged = driver.set_bios({"ProcTurboMode": "Disabled", "FanMinimumPercent": 35})
    assert staged.pending == {"ProcTurboMode": "Disabled", "FanMinimumPercent": 35}
    assert staged.value("ProcTurboMode") == "Enabled"  # not before the reset
    driver.power("reset")
    after = driver.bios()
    assert after.pending == {}
    assert (after.value("ProcTurboMode"), after.value("FanMinimumPercent")) == ("Disabled", 35)
    assert after.applied_at is not None and after.applied_at.utcoffset().total_seconds() == 0


def test_a_value_the_registry_forbids_is_refused_before_anything_is_sent(lab):
    requests_before = lab.redfish.service(0).requests
    with pytest.raises(BmcError) as caught:
        driver_for(endpoint(lab)).set_bios({"FanMinimumPercent": 150})
    assert (caught.value.cause, caught.value.transient) == ("bad_request", False)
    assert "Minimum Fan Speed (%) (FanMinimumPercent): 150 is outside 0…100" in caught.value.message
    with pytest.raises(BmcError) as caught:
        driver_for(endpoint(lab)).set_bios({"SystemMemorySize": "1 TB"})
    assert "read-only" in caught.value.message
    assert lab.redfish.service(0).bios_pending == {}
    assert lab.redfish.service(0).requests > requests_before  # it read, it did not write


def test_a_rule_only_the_bmc_knows_is_refused_in_its_own_words(lab):
    driver = driver_for(endpoint(lab))
    driver.set_bios({"BootMode": "Legacy"})
    with pytest.raises(BmcError) as caught:
        driver.set_bios({"SriovGlobalEnable": "Enabled"})
    assert (caught.value.cause, caught.value.transient) == ("bad_request", False)
    assert "The BMC says:" in caught.value.message
    assert "conflict with the value of the 'Attributes/BootMode'" in caught.value.message
    assert lab.redfish.service(0).bios_pending == {"BootMode": "Legacy"}


def test_the_log_shows_a_chassis_intrusion_newest_first(lab):
    lab.bmc(0).log_event("Fan", "Fan 2 below lower critical", "Warning")
    lab.bmc(0).raise_intrusion()
    entries = driver_for(endpoint(lab)).bmc_log(limit=5)
    assert 1 <= len(entries) <= 5
    newest = entries[0]
    assert newest.intrusion is True
    assert (newest.severity, newest.sensor_type) == ("critical", "Physical Chassis Security")
    assert newest.created is not None and newest.created.tzinfo is not None
    assert entries[1].message == "Fan 2 below lower critical" and not entries[1].intrusion
    times = [e.created for e in entries]
    assert times == sorted(times, reverse=True)


def test_a_password_change_logs_the_old_session_out(lab):
    driver = driver_for(endpoint(lab))
    driver.power_state()
    assert len(lab.redfish.service(0).sessions) == 1
    driver.set_account_password(endpoint(lab).username, "rotated-Pw-1")
    assert lab.redfish.service(0).sessions == {}
    assert lab.bmc(0).password_for(endpoint(lab).username) == "rotated-Pw-1"
    # the IPMI face checks the same password
    ipmi = driver_for(lab.ipmi.endpoint(0, password="rotated-Pw-1"))
    assert ipmi.power_state().state == "on"


def poll(driver):
    """What the sweep asks of one BMC per poll (`apps.hardware.sweep._poll_one`)."""
    return driver.power_state(), driver.sensors(), driver.system_power_watts()


def test_a_sweep_poll_costs_three_requests_once_the_structure_is_known(lab):
    service = lab.redfish.service(0)
    poll(driver_for(endpoint(lab)))  # login, service root, links and memberships
    before = service.requests
    state, readings, watts = poll(driver_for(endpoint(lab)))
    # System, Sensors?$expand, CoolantConnectors?$expand; the watts are the Sensor just read
    assert service.requests - before == 3
    assert state.state == "on"
    assert watts == next(r.value for r in readings if r.name == "System Power")
    assert {"CPU1 Temp", "Water Inlet", "Cold plate loop connection flow"} <= {
        r.name for r in readings
    }
    alone = driver_for(endpoint(lab)).system_power_watts()  # no sensors read before: asks
    assert alone == watts
    assert service.requests - before == 4


def test_a_bmc_that_refuses_the_expand_it_advertises_is_read_member_by_member(lab):
    driver = driver_for(endpoint(lab))
    expanded = driver.sensors()
    client, _ = transport.client_for(endpoint(lab), 5.0)
    client.cache["expand"] = "*"  # the lab answers 501 QueryNotSupported to this one
    assert [r.name for r in driver.sensors()] == [r.name for r in expanded]
    assert client.cache["expand"] is None  # not asked again
    before = lab.redfish.service(0).requests
    driver.sensors()
    assert lab.redfish.service(0).requests - before == 9  # 8 sensors, 1 coolant connector


def test_a_bmc_that_stops_answering_a_kept_alive_connection_is_a_transient_timeout(lab):
    driver = driver_for(endpoint(lab), timeout=1.0)
    poll(driver)
    lab.bmc(0).faults.unreachable = True
    with pytest.raises(BmcError) as caught:
        driver_for(endpoint(lab), timeout=1.0).sensors()
    assert (caught.value.cause, caught.value.transient) == ("timeout", True)


@pytest.mark.parametrize("idle_check", [0.0, 3600.0])
def test_a_kept_alive_connection_the_bmc_dropped_is_replaced_without_logging_in_again(
    lab, monkeypatch, idle_check
):
    # idle_check 0: the dropped connection is found before reuse (as after a long idle);
    # 3600: it is reused at once and the empty answer sends the read through sushy instead
    monkeypatch.setattr(wire, "IDLE_CHECK", idle_check)
    driver = driver_for(endpoint(lab))
    first = driver.sensors()
    sessions = set(lab.redfish.service(0).sessions)
    assert lab.redfish.drop_connections() >= 1
    again = driver.sensors()
    assert [(s.name, s.kind) for s in again] == [(s.name, s.kind) for s in first]
    assert driver.power_state().state == "on"
    assert set(lab.redfish.service(0).sessions) == sessions  # the same session, no new login
