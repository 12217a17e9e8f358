"""What only Redfish gives, against third parties' data: BIOS attributes with the attribute
registry's names, pending settings and validated changes, and BMC log entries, read from
sushy-static serving the JSON samples of the sushy wheel (see `redfish_peers`)."""

import datetime

import pytest

from apps.hardware.drivers import BmcError, driver_for
from apps.hardware.drivers.redfish import transport
from tests.hardware.redfish_peers import (
    BIOS_SETTINGS_ETAG,
    MANAGER_SEL,
    SYSTEM_LOG,
    StaticService,
)

SETTINGS = "/redfish/v1/Systems/437XR1138R2/BIOS/Settings"


@pytest.fixture(scope="module")
def static(tmp_path_factory):
    service = StaticService(tmp_path_factory.mktemp("static-p89"))
    yield service
    transport.close_all()
    service.stop()


@pytest.fixture(scope="module")
def static_zt(tmp_path_factory):
    service = StaticService(tmp_path_factory.mktemp("static-zt"), bios="zt", logs=False)
    yield service
    transport.close_all()
    service.stop()


@pytest.fixture(autouse=True)
def fresh_clients(request):
    transport.close_all()
    for name in ("static", "static_zt"):
        if name in request.fixturenames:
            request.getfixturevalue(name).writes.clear()
    yield
    transport.close_all()


# --- BIOS --------------------------------------------------------------------------------


def test_bios_reads_current_attributes_and_only_the_pending_differences(static):
    bios = driver_for(static.endpoint()).bios()
    assert bios.registry == "BiosAttributeRegistryP89.v1_0_0"
    assert bios.value("ProcTurboMode") == "Enabled"
    assert bios.value("ProcCoreDisable") == 0  # a zero stays a zero, not "unknown"
    assert len(bios.attributes) == 10
    # bios_settings.json stages four changes; the unchanged attributes are not "pending"
    assert bios.pending == {
        "AdminPhone": "(404) 555-1212",
        "EmbeddedSata": "Ahci",
        "NicBoot2": "NetworkBoot",
        "ProcTurboMode": "Disabled",
    }
    assert bios.apply_times == ("OnReset", "InMaintenanceWindowOnReset")
    assert bios.applied_at is None  # the sample's "2016-03-07T14:44.30-05:00" is no valid time


def test_bios_attributes_carry_the_registry_display_names(static_zt):
    bios = driver_for(static_zt.endpoint()).bios()
    by_name = {a.name: a for a in bios.attributes}
    assert len(by_name) > 300
    tpm = by_name["TCG003"]
    assert (tpm.display_name, tpm.type, tpm.value) == ("TPM SUPPORT", "Enumeration", "Enable")
    assert tpm.allowed == ("Disable", "Enable")
    assert by_name["TCG023"].display_name == "Disable Block Sid"  # the registry's spaces trimmed
    assert by_name["ACPI002"].display_name == ""  # not in the registry: unknown, not invented
    assert bios.pending == {} and bios.apply_times == ()


def test_a_valid_change_is_patched_into_the_settings_object_with_if_match(static):
    driver = driver_for(static.endpoint())
    driver.set_bios({"ProcVirtualization": "Disabled", "ProcTurboMode": "Disabled"})
    patches = [w for w in static.writes if w[0] == "PATCH"]
    assert len(patches) == 1
    _, path, headers, body = patches[0]
    assert path == SETTINGS
    assert headers["if-match"] == BIOS_SETTINGS_ETAG
    assert body == {
        "Attributes": {"ProcVirtualization": "Disabled", "ProcTurboMode": "Disabled"},
        "@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"},
    }


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"SystemModelName": "Ultra 5"}, "System Model Name (SystemModelName) is read-only"),
        ({"ProcVirtualization": "Maybe"}, "'Maybe' is not one of Enabled, Disabled"),
        ({"ProcVirtualization": True}, "is not one of Enabled, Disabled"),
        ({"NoSuchThing": "x"}, "no attribute 'NoSuchThing'"),
        ({"ProcCoreDisable": "two"}, "ProcCoreDisable takes a number"),
        ({"ProcTurboMode": 1}, "ProcTurboMode takes text"),
        ({"ProcTurboMode": ["Enabled"]}, "a value is text, number or bool"),
        ({}, "at least one BIOS attribute"),
    ],
)
def test_invalid_changes_are_refused_before_anything_is_sent(static, changes, words):
    with pytest.raises(BmcError) as caught:
        driver_for(static.endpoint()).set_bios(changes)
    assert (caught.value.cause, caught.value.transient) == ("bad_request", False)
    assert words in caught.value.message
    assert [w for w in static.writes if w[0] == "PATCH"] == []


def test_a_bmc_without_a_bios_resource_says_not_supported(emulator_like_static):
    with pytest.raises(BmcError) as caught:
        driver_for(emulator_like_static.endpoint()).bios()
    assert caught.value.cause == "not_supported"


@pytest.fixture(scope="module")
def emulator_like_static(tmp_path_factory):
    """The samples without the BIOS resource the system links to."""
    service = StaticService(tmp_path_factory.mktemp("static-nobios"), bios="", logs=False)
    yield service
    transport.close_all()
    service.stop()


# --- logs --------------------------------------------------------------------------------


def test_bmc_log_merges_manager_and_system_logs_newest_first(static):
    entries = driver_for(static.endpoint()).bmc_log()
    assert [(e.log, e.id) for e in entries] == [
        (SYSTEM_LOG, "10"),  # 2024-05-02 12:00 UTC
        (MANAGER_SEL, "2"),  # 2024-05-02 07:30 UTC (09:30+02:00)
        (MANAGER_SEL, "1"),
        (MANAGER_SEL, "3"),  # from the second page; no zone: time unknown, listed last
    ]
    psu, intrusion, fan, unzoned = entries
    assert intrusion.created == datetime.datetime(2024, 5, 2, 7, 30, tzinfo=datetime.UTC)
    assert intrusion.created.utcoffset() == datetime.timedelta(0)
    assert (intrusion.intrusion, intrusion.severity) == (True, "critical")
    assert intrusion.sensor_type == "Physical Chassis Security"
    assert (psu.severity, psu.message_id, psu.entry_type) == (
        "warning",
        "Platform.1.0.PowerSupplyFailed",
        "Event",
    )
    assert not psu.intrusion and not fan.intrusion
    assert (fan.severity, fan.message) == ("ok", "Fan 1 speed normal")
    assert unzoned.created is None


def test_bmc_log_is_bounded(static):
    entries = driver_for(static.endpoint()).bmc_log(limit=2)
    assert [e.id for e in entries] == ["10", "2"]


@pytest.mark.parametrize("limit", [0, -1, 10_001, "5", True])
def test_a_silly_log_limit_is_a_bad_request(static, limit):
    with pytest.raises(BmcError) as caught:
        driver_for(static.endpoint()).bmc_log(limit=limit)
    assert caught.value.cause == "bad_request"
