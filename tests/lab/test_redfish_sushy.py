"""OpenStack's sushy (the client Ironic uses) drives the lab's Redfish face, TLS verified."""

import pytest
import sushy


@pytest.fixture
def connect(dual_lab):
    clients = []

    def connect(endpoint):
        client = sushy.Sushy(
            f"{endpoint.base_url}/redfish/v1/",
            username=endpoint.username,
            password=endpoint.password,
            verify=endpoint.cert_path,
        )
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.__del__()  # sushy logs out here, while the lab still runs


def test_sushy_drives_power_boot_and_bios(dual_lab, connect):
    client = connect(dual_lab.redfish.endpoint(0))
    system = client.get_system()
    assert system.power_state == sushy.PowerState.ON
    assert sushy.ResetType.NMI in system.get_allowed_reset_system_values()
    assert sushy.BootSource.UEFI_HTTP in system.get_allowed_system_boot_source_values()
    system.reset_system(sushy.ResetType.FORCE_OFF)
    assert dual_lab.bmc(0).power_state == "off"
    system.set_system_boot_options(
        sushy.BootSource.PXE,
        enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS,
        mode=sushy.BootSourceOverrideMode.UEFI,
    )
    assert dual_lab.bmc(0).boot == {"device": "network", "persistent": True, "uefi": True}
    system.bios.set_attributes({"ProcTurboMode": "Disabled"})
    system.reset_system(sushy.ResetType.ON)
    system.bios.refresh()
    assert system.bios.attributes["ProcTurboMode"] == "Disabled"
    assert dual_lab.redfish.service(0).sessions  # sushy logged in with a session


def test_sushy_reads_manager_firmware_inventory_and_chassis(dual_lab, connect):
    client = connect(dual_lab.redfish.endpoint(0))
    assert client.get_manager().firmware_version == "2.41"
    inventory = client.get_update_service().firmware_inventory.get_members()
    assert {(item.identity, item.version) for item in inventory} == {
        ("BMC", "2.41"),
        ("BIOS", "1.4.0"),  # the lab's first release (apps.lab.firmware)
        ("NIC", "22.31.1014"),
        ("CPLD", "1.0.4"),
    }
    chassis = client.get_chassis()
    temperatures = {t.name: t.reading_celsius for t in chassis.thermal.temperatures}
    assert temperatures["Water Inlet"] == 40.0
    assert [p.identity for p in client.get_system().processors.get_members()] == ["CPU1", "CPU2"]
