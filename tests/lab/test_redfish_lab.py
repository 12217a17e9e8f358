"""The lab BMCs' Redfish face over real HTTPS on loopback, verified against each BMC's own
certificate, and its agreement with the IPMI face of the same node."""

import shutil
import socket
import subprocess

import pytest

from apps.hardware.drivers import BmcError, driver_for
from apps.hardware.drivers.base import BootDevice
from tests.lab.redfish_client import Client, message_id

SYSTEM = "/redfish/v1/Systems/1"
RESET = f"{SYSTEM}/Actions/ComputerSystem.Reset"


@pytest.fixture
def client(dual_lab):
    c = Client(dual_lab.redfish.endpoint(0))
    yield c
    c.close()


def ipmi(lab, index=0, **overrides):
    return driver_for(lab.ipmi.endpoint(index, **overrides))


def sensor(client, sensor_id):
    return client.json(f"/redfish/v1/Chassis/1/Sensors/{sensor_id}")


# --- one node, two faces ------------------------------------------------------------------------


def test_a_power_off_over_ipmi_is_seen_over_redfish(dual_lab, client):
    assert client.json(SYSTEM)["PowerState"] == "On"
    assert sensor(client, "CPU1Temp")["Reading"] > 40
    assert ipmi(dual_lab).power("off").changed
    assert client.json(SYSTEM)["PowerState"] == "Off"
    assert client.json("/redfish/v1/Chassis/1")["PowerState"] == "Off"
    cpu = sensor(client, "CPU1Temp")
    assert cpu["Reading"] is None  # no reading while the host is off: unknown, not 0
    assert cpu["Status"]["State"] == "UnavailableOffline"
    metrics = client.json("/redfish/v1/Chassis/1/EnvironmentMetrics")
    assert metrics["PowerWatts"]["Reading"] == 0
    # the other BMC of the lab is untouched
    other = Client(dual_lab.redfish.endpoint(1))
    assert other.json(SYSTEM)["PowerState"] == "On"
    other.close()


def test_redfish_resets_are_seen_over_ipmi(dual_lab, client):
    driver = ipmi(dual_lab)
    assert client.reset("ForceOff").status_code == 204
    assert driver.power_state().state == "off"
    boots = dual_lab.bmc(0).boot_count
    assert client.reset("On").status_code == 204
    assert driver.power_state().state == "on"
    assert dual_lab.bmc(0).boot_count == boots + 1
    assert client.reset("ForceRestart").status_code == 204
    assert dual_lab.bmc(0).boot_count == boots + 2
    assert client.reset("GracefulShutdown").status_code == 204
    assert driver.power_state().state == "off"
    assert dual_lab.bmc(0).chassis_controls[-4:] == ["off", "on", "reset", "soft"]


def test_a_restart_of_a_powered_off_node_is_a_conflict(dual_lab, client):
    dual_lab.bmc(0).set_power("off")
    response = client.reset("ForceRestart")
    assert response.status_code == 409
    assert message_id(response) == "ChassisPowerStateOnRequired"
    assert client.json(SYSTEM)["PowerState"] == "Off"


def test_a_power_transition_shows_as_powering_off(make_dual_lab, lab_bmc_clock):
    lab = make_dual_lab(count=1, power_delay=5.0)
    client = Client(lab.redfish.endpoint(0))
    assert client.reset("ForceOff").status_code == 204
    assert client.json(SYSTEM)["PowerState"] == "PoweringOff"
    lab_bmc_clock.advance(5.0)
    lab_bmc_clock.settle(lab.ipmi)
    assert client.json(SYSTEM)["PowerState"] == "Off"
    client.close()


def test_sensors_agree_with_the_ipmi_face(dual_lab, client):
    by_name = {s.name: s.value for s in ipmi(dual_lab).sensors()}
    for member in client.json("/redfish/v1/Chassis/1/Sensors")["Members"]:
        body = client.json(member["@odata.id"])
        if body["Name"] in by_name:
            assert body["Reading"] == pytest.approx(by_name[body["Name"]], abs=0.01), body["Name"]
    assert sensor(client, "CoolantFlow")["Reading"] == pytest.approx(1.5)
    watts = ipmi(dual_lab).system_power_watts()
    assert client.json("/redfish/v1/Chassis/1/EnvironmentMetrics")["PowerWatts"]["Reading"] == watts
    power = client.json("/redfish/v1/Chassis/1/Power")
    assert power["PowerControl"][0]["PowerConsumedWatts"] == watts
    connector = client.json("/redfish/v1/Chassis/1/ThermalSubsystem/CoolantConnectors/1")
    assert connector["SupplyTemperatureCelsius"]["Reading"] == by_name["Water Inlet"]
    assert connector["ReturnTemperatureCelsius"]["Reading"] == pytest.approx(
        by_name["Water Outlet"], abs=0.01
    )


def test_a_hotter_loop_shows_on_both_faces(dual_lab, client):
    dual_lab.ipmi.loop_return_c = 50.0
    by_name = {s.name: s.value for s in ipmi(dual_lab).sensors()}
    assert by_name["Water Inlet"] == 50.0
    assert sensor(client, "WaterInletTemp")["Reading"] == 50.0


def test_boot_override_set_over_redfish_is_read_over_ipmi(dual_lab, client):
    response = client.patch(
        SYSTEM,
        {
            "Boot": {
                "BootSourceOverrideTarget": "Pxe",
                "BootSourceOverrideEnabled": "Continuous",
                "BootSourceOverrideMode": "UEFI",
            }
        },
    )
    assert response.status_code == 200
    assert ipmi(dual_lab).boot_device() == BootDevice("network", persistent=True, uefi=True)
    # a target alone means "next boot only"; Legacy is kept from the request
    client.patch(SYSTEM, {"Boot": {"BootSourceOverrideEnabled": "Disabled"}})
    client.patch(SYSTEM, {"Boot": {"BootSourceOverrideTarget": "BiosSetup"}})
    assert ipmi(dual_lab).boot_device() == BootDevice("bios", persistent=False, uefi=False)
    # and the other way round
    ipmi(dual_lab).set_boot_device(BootDevice("disk", persistent=False, uefi=True))
    boot = client.json(SYSTEM)["Boot"]
    assert (
        boot["BootSourceOverrideTarget"],
        boot["BootSourceOverrideEnabled"],
        boot["BootSourceOverrideMode"],
    ) == ("Hdd", "Once", "UEFI")


def test_http_boot_is_redfish_only_and_ipmi_sees_a_network_boot(dual_lab, client):
    client.patch(SYSTEM, {"Boot": {"BootSourceOverrideTarget": "UefiHttp"}})
    assert client.json(SYSTEM)["Boot"]["BootSourceOverrideTarget"] == "UefiHttp"
    assert ipmi(dual_lab).boot_device().device == "network"


def test_a_bad_boot_target_is_refused_and_changes_nothing(dual_lab, client):
    response = client.patch(SYSTEM, {"Boot": {"BootSourceOverrideTarget": "Floppy"}})
    assert response.status_code == 400
    assert message_id(response) == "PropertyValueNotInList"
    assert dual_lab.bmc(0).boot["device"] == "default"


def test_firmware_versions_agree_with_ipmi(dual_lab, client):
    versions = {f.component: f.version for f in ipmi(dual_lab).firmware()}
    manager = client.json("/redfish/v1/Managers/1")
    assert manager["FirmwareVersion"] == versions["BMC Version"] == "2.41"
    inventory = client.json("/redfish/v1/UpdateService/FirmwareInventory")
    names = sorted(m["@odata.id"].rsplit("/", 1)[1] for m in inventory["Members"])
    assert names == ["BIOS", "BMC", "CPLD", "NIC"]
    bmc = client.json("/redfish/v1/UpdateService/FirmwareInventory/BMC")
    assert (bmc["Version"], bmc["Updateable"]) == ("2.41", True)
    assert bmc["RelatedItem"] == [{"@odata.id": "/redfish/v1/Managers/1"}]
    bios = client.json("/redfish/v1/UpdateService/FirmwareInventory/BIOS")
    assert bios["Version"] == client.json(SYSTEM)["BiosVersion"] == "1.4.0"  # lab release


def test_the_event_log_shows_power_events_and_chassis_intrusion(dual_lab, client):
    client.reset("ForceOff")
    dual_lab.bmc(0).raise_intrusion()
    entries = client.json("/redfish/v1/Managers/1/LogServices/SEL/Entries")
    assert entries["Members@odata.count"] == 2
    last = client.json(entries["Members"][-1]["@odata.id"])
    assert (last["EntryType"], last["SensorType"], last["Severity"]) == (
        "SEL",
        "Physical Chassis Security",
        "Critical",
    )
    assert last["Created"].endswith("Z")
    clear = "/redfish/v1/Managers/1/LogServices/SEL/Actions/LogService.ClearLog"
    assert client.post(clear, {}).status_code == 204
    assert client.json("/redfish/v1/Managers/1/LogServices/SEL/Entries")["Members"] == []


# --- BIOS settings ------------------------------------------------------------------------------


def test_pending_bios_settings_become_current_on_the_next_reset(dual_lab, client):
    settings = f"{SYSTEM}/Bios/Settings"
    bios = client.json(f"{SYSTEM}/Bios")
    assert bios["@Redfish.Settings"]["SettingsObject"]["@odata.id"] == settings
    assert bios["Attributes"]["ProcTurboMode"] == "Enabled"
    response = client.patch(settings, {"Attributes": {"ProcTurboMode": "Disabled"}})
    assert response.status_code == 200
    assert client.json(settings)["Attributes"] == {"ProcTurboMode": "Disabled"}
    assert client.json(f"{SYSTEM}/Bios")["Attributes"]["ProcTurboMode"] == "Enabled"
    ipmi(dual_lab).power("reset")  # any boot applies them, whichever face asked for it
    assert client.json(f"{SYSTEM}/Bios")["Attributes"]["ProcTurboMode"] == "Disabled"
    assert client.json(settings)["Attributes"] == {}


def test_pending_bios_settings_wait_while_the_node_stays_off(dual_lab, client):
    client.reset("ForceOff")
    client.patch(f"{SYSTEM}/Bios/Settings", {"Attributes": {"PowerProfile": "Balanced"}})
    assert client.json(f"{SYSTEM}/Bios")["Attributes"]["PowerProfile"] == "Performance"
    client.reset("On")
    assert client.json(f"{SYSTEM}/Bios")["Attributes"]["PowerProfile"] == "Balanced"


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"NoSuchThing": "x"}, "PropertyUnknown"),
        ({"ProcTurboMode": "Maybe"}, "PropertyValueNotInList"),
        ({"FanMinimumPercent": "20"}, "PropertyValueTypeError"),
        ({"FanMinimumPercent": 140}, "PropertyValueOutOfRange"),
    ],
)
def test_bad_bios_attributes_are_refused(client, attributes, expected):
    response = client.patch(f"{SYSTEM}/Bios/Settings", {"Attributes": attributes})
    assert response.status_code == 400
    assert message_id(response) == expected
    assert client.json(f"{SYSTEM}/Bios/Settings")["Attributes"] == {}


def test_bios_settings_take_an_on_reset_apply_time_and_refuse_others(client):
    settings = f"{SYSTEM}/Bios/Settings"
    offered = client.json(settings)["@Redfish.SettingsApplyTime"]
    assert offered["ApplyTime@Redfish.AllowableValues"] == ["OnReset"]
    body = {"Attributes": {"PowerProfile": "Balanced"}}
    response = client.patch(
        settings, body | {"@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"}}
    )
    assert response.status_code == 200
    response = client.patch(
        settings,
        {
            "Attributes": {"ProcTurboMode": "Disabled"},
            "@Redfish.SettingsApplyTime": {"ApplyTime": "Immediate"},
        },
    )
    assert response.status_code == 400 and message_id(response) == "PropertyValueNotInList"
    assert client.json(settings)["Attributes"] == {"PowerProfile": "Balanced"}


def test_a_stale_if_match_on_the_bios_settings_is_a_precondition_failure(client):
    settings = f"{SYSTEM}/Bios/Settings"
    first = client.get(settings)
    etag = first.headers["ETag"]
    assert etag == first.json()["@odata.etag"]
    assert (
        client.patch(
            settings, {"Attributes": {"PowerProfile": "Balanced"}}, headers={"If-Match": etag}
        ).status_code
        == 200
    )
    assert client.get(settings).headers["ETag"] != etag  # the pending settings changed
    response = client.patch(
        settings, {"Attributes": {"ProcTurboMode": "Disabled"}}, headers={"If-Match": etag}
    )
    assert response.status_code == 412
    assert message_id(response) == "PreconditionFailed"
    info = response.json()["error"]["@Message.ExtendedInfo"][0]
    assert info["MessageId"].startswith("Base.1.") and "ETag" in info["Message"]
    assert client.json(settings)["Attributes"] == {"PowerProfile": "Balanced"}


def test_the_bios_attribute_registry_is_found_through_the_registries(client):
    registry_id = client.json(f"{SYSTEM}/Bios")["AttributeRegistry"]
    files = client.json("/redfish/v1/")["Registries"]["@odata.id"]
    (member,) = client.json(files)["Members"]
    found = client.json(member["@odata.id"])
    assert found["Registry"] == registry_id
    registry = client.json(found["Location"][0]["Uri"])
    entries = {e["AttributeName"]: e for e in registry["RegistryEntries"]["Attributes"]}
    assert set(entries) == set(client.json(f"{SYSTEM}/Bios")["Attributes"])
    assert entries["SystemMemorySize"]["ReadOnly"] is True
    response = client.patch(f"{SYSTEM}/Bios/Settings", {"Attributes": {"SystemMemorySize": "1 TB"}})
    assert response.status_code == 400 and message_id(response) == "PropertyNotWritable"


# --- accounts -----------------------------------------------------------------------------------


def test_a_password_change_over_redfish_applies_to_both_faces(dual_lab, client):
    account = "/redfish/v1/AccountService/Accounts/1"
    assert client.json(account)["Password"] is None
    response = client.patch(account, {"Password": "n3w-Secret"})
    assert response.status_code == 200
    assert response.json()["Password"] is None  # never shown
    assert client.get(SYSTEM).status_code == 401  # basic auth with the old password
    client.http.auth = ("admin", "n3w-Secret")
    assert client.get(SYSTEM).status_code == 200
    assert ipmi(dual_lab, password="n3w-Secret").power_state().state == "on"
    with pytest.raises(BmcError):
        ipmi(dual_lab, password="password").power_state()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"Password": "short"}, "PropertyValueOutOfRange"),
        ({"Password": "x" * 21}, "PropertyValueOutOfRange"),  # IPMI keeps 20 bytes at most
        ({"Password": 12345678}, "PropertyValueTypeError"),
        ({"UserName": "root"}, "PropertyNotWritable"),
    ],
)
def test_bad_account_changes_are_refused(dual_lab, client, body, expected):
    response = client.patch("/redfish/v1/AccountService/Accounts/1", body)
    assert response.status_code == 400
    assert message_id(response) == expected
    assert "12345678" not in response.text
    assert dual_lab.bmc(0).authdata == {"admin": "password"}


# --- the command line ---------------------------------------------------------------------------


def test_the_lab_command_line_starts_both_faces_on_ipmi_port_plus_offset(tmp_path):
    from apps.hardware.drivers import ipmi as ipmi_driver
    from apps.lab.bmc import cli

    args = cli.build_parser().parse_args(
        ["--count", "1", "--base-port", "0", "--redfish-state-dir", str(tmp_path)]
    )
    assert args.redfish_offset == 10000  # the documented default
    with cli.server_from_args(args) as lab:
        with socket.socket() as probe:  # a TCP port known to be free, reached by the offset
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        args.redfish_offset = free - lab.port(0)
        redfish = cli.start_redfish(lab.bmcs, args)
        try:
            assert redfish.port(0) == lab.port(0) + args.redfish_offset
            client = Client(redfish.endpoint(0))
            assert client.json(SYSTEM)["Name"] == "lab-node-001"
            client.close()
            assert [p.name for p in tmp_path.glob("*.pem")] == ["lab-node-001.pem"]
        finally:
            redfish.stop()
            ipmi_driver.close_all()
    no_redfish = cli.build_parser().parse_args(["--no-redfish"])
    assert cli.start_redfish([], no_redfish) is None


def ipmitool(lab, index, password, *args):
    command = ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(lab.ipmi.port(index))]
    command += ["-U", "admin", "-P", password, "-C", "17", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(shutil.which("ipmitool") is None, reason="ipmitool is not installed (apt)")
def test_a_password_set_over_ipmi_applies_to_both_faces(dual_lab):
    assert "admin" in ipmitool(dual_lab, 0, "password", "user", "list", "1").stdout
    changed = ipmitool(dual_lab, 0, "password", "user", "set", "password", "2", "n3w-Secret")
    assert changed.returncode == 0, changed.stderr
    tested = ipmitool(dual_lab, 0, "n3w-Secret", "user", "test", "2", "16", "n3w-Secret")
    assert "Success" in tested.stdout, tested.stdout + tested.stderr
    wrong = ipmitool(dual_lab, 0, "n3w-Secret", "user", "test", "2", "16", "password")
    assert "Failure" in wrong.stdout + wrong.stderr
    client = Client(dual_lab.redfish.endpoint(0))  # endpoint() reads the current password
    assert client.endpoint.password == "n3w-Secret"
    assert client.get(SYSTEM).status_code == 200
    client.http.auth = ("admin", "password")
    assert client.get(SYSTEM).status_code == 401
    client.close()
