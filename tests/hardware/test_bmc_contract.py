"""One BMC contract, every protocol: the same assertions against the IPMI adapter (lab BMC over
UDP) and the Redfish adapter (sushy-emulator, and the lab's Redfish face), for what both offer."""

import time

import pytest

from apps.hardware.drivers import BmcEndpoint, BmcError, BootDevice, TaskRef, driver_for
from apps.hardware.drivers.redfish import transport
from tests.hardware.redfish_peers import Emulator

DEADLINE = 60.0  # only stops a broken run


class IpmiLabPeer:
    watts_known = True
    accounts = True  # the BMC can set its account's password

    def __init__(self, lab):
        self.lab = lab

    def endpoint(self, **changes):
        return self.lab.endpoint(0, **changes)

    def set_power(self, state):
        self.lab.bmc(0).set_power(state)


class RedfishLabPeer(IpmiLabPeer):
    def __init__(self, lab):
        self.lab = lab

    def endpoint(self, **changes):
        face = self.lab.redfish.endpoint(0)
        values = {
            "host": face.host,
            "port": face.port,
            "username": face.username,
            "password": face.password,
            "protocol": "redfish",
            "tls_fingerprint": face.fingerprint,
        }
        return BmcEndpoint(**(values | changes))

    def set_power(self, state):
        self.lab.bmc(0).set_power(state)


class EmulatorPeer:
    watts_known = False  # the emulator has no Power or EnvironmentMetrics
    accounts = False  # nor an AccountService

    def __init__(self, emulator):
        self.emulator = emulator

    def endpoint(self, **changes):
        return self.emulator.endpoint(**changes)

    def set_power(self, state):
        self.emulator.set_power(state.capitalize())


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    service = Emulator(tmp_path_factory.mktemp("emulator"))
    yield service
    transport.close_all()
    service.stop()


@pytest.fixture(params=["ipmi-lab", "redfish-emulator", "redfish-lab"])
def peer(request):
    if request.param == "ipmi-lab":
        yield IpmiLabPeer(request.getfixturevalue("lab"))
    elif request.param == "redfish-emulator":
        emulator = request.getfixturevalue("emulator")
        emulator.set_power("On")
        yield EmulatorPeer(emulator)
    else:
        yield RedfishLabPeer(request.getfixturevalue("make_dual_lab")(count=1))
    transport.close_all()


def eventually(read, wanted):
    """Poll ``read()`` until it returns ``wanted``; fail only after a generous deadline."""
    deadline = time.monotonic() + DEADLINE
    while (value := read()) != wanted:
        assert time.monotonic() < deadline, f"still {value!r}, wanted {wanted!r}"
        time.sleep(0.1)


@pytest.mark.parametrize(("start", "action", "final"), [("off", "on", "on"), ("on", "off", "off")])
def test_power_actions_reach_their_state(peer, start, action, final):
    peer.set_power(start)
    driver = driver_for(peer.endpoint())
    assert driver.power_state().state == start
    result = driver.power(action)
    assert result.changed is True
    assert result.state in (None, final)
    eventually(lambda: driver.power_state().state, final)


@pytest.mark.parametrize("state", ["on", "off"])
def test_asking_for_the_present_state_changes_nothing(peer, state):
    peer.set_power(state)
    result = driver_for(peer.endpoint()).power("on" if state == "on" else "off")
    assert (result.changed, result.state) == (False, state)


def test_resetting_an_off_node_is_a_bad_power_state(peer):
    peer.set_power("off")
    with pytest.raises(BmcError) as caught:
        driver_for(peer.endpoint()).power("reset")
    assert (caught.value.cause, caught.value.transient) == ("bad_power_state", False)


def test_an_unknown_action_is_a_bad_request(peer):
    with pytest.raises(BmcError) as caught:
        driver_for(peer.endpoint()).power("explode")
    assert caught.value.cause == "bad_request"


def test_a_wrong_password_is_a_fatal_credentials_error(peer):
    with pytest.raises(BmcError) as caught:
        driver_for(peer.endpoint(password="wrong")).power_state()
    assert (caught.value.cause, caught.value.transient) == ("bad_credentials", False)


@pytest.mark.parametrize("device", ["network", "disk"])
def test_boot_override_device_and_mode_round_trip(peer, device):
    driver = driver_for(peer.endpoint())
    driver.set_boot_device(BootDevice(device, persistent=False, uefi=True))
    read = driver.boot_device()
    assert (read.device, read.uefi) == (device, True)


def test_sensors_inventory_and_firmware_are_read(peer):
    driver = driver_for(peer.endpoint())
    readings = driver.sensors()
    assert any(r.kind == "temperature" and r.value is not None for r in readings)
    assert all(r.health in ("ok", "warning", "critical", "unknown") for r in readings)
    assert driver.inventory().manufacturer != ""
    assert all(f.version for f in driver.firmware())
    assert driver.firmware() != []


def test_system_power_is_watts_or_unknown(peer):
    watts = driver_for(peer.endpoint()).system_power_watts()
    if peer.watts_known:
        assert isinstance(watts, float) and watts > 0
    else:
        assert watts is None


# IPMI's 16-byte form and its 20-byte form (Set User Password bit 7)
@pytest.mark.parametrize("new", ["n3w-Passw0rd", "twenty-chars-Pw-0123"])
def test_a_new_account_password_is_the_one_that_logs_in_afterwards(peer, new):
    old = peer.endpoint()
    driver = driver_for(old)
    driver.power_state()  # a cached session with the old password
    if not peer.accounts:
        with pytest.raises(BmcError) as caught:
            driver.set_account_password(old.username, new)
        assert caught.value.cause == "not_supported"
        return
    driver.set_account_password(old.username, new)
    assert driver_for(peer.endpoint(password=new)).power_state().state == "on"
    with pytest.raises(BmcError) as caught:
        driver_for(old).power_state()  # no session kept from before the change answers it
    assert (caught.value.cause, caught.value.transient) == ("bad_credentials", False)


def test_a_password_the_bmc_cannot_take_is_refused_before_sending(peer):
    if not peer.accounts:
        return
    driver = driver_for(peer.endpoint())
    with pytest.raises(BmcError) as caught:
        driver.set_account_password(peer.endpoint().username, "x" * 21)
    assert caught.value.cause == "bad_request"
    with pytest.raises(BmcError) as caught:
        driver.set_account_password("nobody-here", "n3w-Passw0rd")
    assert caught.value.cause == "bad_request"
    assert driver_for(peer.endpoint()).power_state().state == "on"  # the old one still works


@pytest.mark.parametrize(
    "call",
    [
        lambda d: d.bios(),
        lambda d: d.set_bios({"BootMode": "Uefi"}),
        lambda d: d.firmware_update_push(b"image"),
        lambda d: d.firmware_update_simple("https://heatsite.invalid/fw.bin"),
        lambda d: d.task_status(TaskRef(monitor="/x")),
    ],
)
def test_what_ipmi_has_no_standard_for_is_not_supported(lab, call):
    with pytest.raises(BmcError) as caught:
        call(driver_for(lab.endpoint(0)))
    assert (caught.value.cause, caught.value.transient) == ("not_supported", False)
    assert "IPMI" in caught.value.message
