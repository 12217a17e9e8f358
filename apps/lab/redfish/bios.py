"""The lab BMC's BIOS over Redfish: current attributes, pending settings, the attribute registry.

``Systems/1/Bios`` holds the current attributes; ``Bios/Settings`` the pending ones (applied
at the next boot, by `RedfishService._apply_bios`). The settings object carries an ETag: a PATCH
with an ``If-Match`` other than the current one is refused with 412 (``PreconditionFailed``),
and it accepts ``@Redfish.SettingsApplyTime`` with ``OnReset`` only. The attribute registry
(``HeatsiteLabBiosAttributeRegistry``) is listed under ``/redfish/v1/Registries`` with a local
``Location``, as on real BMCs; one of its dependencies (SR-IOV needs UEFI boot) is enforced
by the BMC only, as real BMCs enforce theirs, so a client that reads the registry's types and
bounds still meets the BMC's own refusals.
"""

from __future__ import annotations

import datetime
import hashlib
import json

from apps.lab.redfish import schema
from apps.lab.redfish.chassis import SYSTEM
from apps.lab.redfish.schema import RedfishError, collection, link, resource

REGISTRY = "HeatsiteLabBiosAttributeRegistry.v1_0_0"
REGISTRIES = "/redfish/v1/Registries"
REGISTRY_FILE = f"{REGISTRIES}/HeatsiteLabBiosAttributeRegistry"
REGISTRY_URI = f"{SYSTEM}/Bios/BiosRegistry"
SETTINGS = f"{SYSTEM}/Bios/Settings"
RESET_ACTION_INFO = f"{SYSTEM}/Bios/ResetBiosActionInfo"
APPLY_TIMES = ("OnReset",)

BIOS_DEFAULTS = {
    "BootMode": "Uefi",
    "ProcTurboMode": "Enabled",
    "ProcHyperThreading": "Enabled",
    "SriovGlobalEnable": "Disabled",
    "PowerProfile": "Performance",
    "FanMinimumPercent": 20,
    "SystemMemorySize": "256 GB",
}
BIOS_CHOICES: dict[str, tuple | range] = {
    "BootMode": ("Uefi", "Legacy"),
    "ProcTurboMode": ("Enabled", "Disabled"),
    "ProcHyperThreading": ("Enabled", "Disabled"),
    "SriovGlobalEnable": ("Enabled", "Disabled"),
    "PowerProfile": ("Performance", "Balanced", "PowerSaving"),
    "FanMinimumPercent": range(0, 101),
}
READ_ONLY = {"SystemMemorySize"}
DISPLAY_NAMES = {
    "BootMode": "Boot Mode",
    "ProcTurboMode": "Turbo Mode",
    "ProcHyperThreading": "Hyper-Threading",
    "SriovGlobalEnable": "SR-IOV Global Enable",
    "PowerProfile": "System Power Profile",
    "FanMinimumPercent": "Minimum Fan Speed (%)",
    "SystemMemorySize": "System Memory Size",
}


def _registry_entry(name: str) -> dict:
    entry: dict = {
        "AttributeName": name,
        "DisplayName": DISPLAY_NAMES[name],
        "ReadOnly": name in READ_ONLY,
        "ResetRequired": True,
        "DefaultValue": BIOS_DEFAULTS[name],
    }
    choices = BIOS_CHOICES.get(name)
    if isinstance(choices, range):
        entry.update(
            Type="Integer", LowerBound=choices.start, UpperBound=choices.stop - 1, ScalarIncrement=1
        )
    elif choices:
        entry.update(Type="Enumeration", Value=[{"ValueName": value} for value in choices])
    else:
        entry.update(Type="String", MaxLength=32)
    return entry


def bios(svc) -> dict:
    with svc.bmc.lock:
        attributes = dict(svc.bios_current)
    settings = {
        "@odata.type": "#Settings.v1_3_5.Settings",
        "SettingsObject": link(SETTINGS),
        "SupportedApplyTimes": list(APPLY_TIMES),
    }
    if svc.bios_applied:
        applied = svc.bios_applied.astimezone(datetime.UTC).isoformat(timespec="seconds")
        settings["Time"] = applied.replace("+00:00", "Z")
    return resource(
        "Bios",
        f"{SYSTEM}/Bios",
        Id="Bios",
        Name="BIOS Configuration Current Settings",
        AttributeRegistry=REGISTRY,
        Attributes=attributes,
        Actions={
            "#Bios.ResetBios": {
                "target": f"{SYSTEM}/Bios/Actions/Bios.ResetBios",
                "@Redfish.ActionInfo": RESET_ACTION_INFO,
            }
        },
        **{"@Redfish.Settings": settings},
    )


def reset_action_info(svc) -> dict:
    return resource(
        "ActionInfo",
        RESET_ACTION_INFO,
        Id="ResetBiosActionInfo",
        Name="Reset BIOS Action Info",
        Parameters=[],  # the action takes none
    )


def etag(svc) -> str:
    """The settings object's ETag: changes whenever the pending attributes do."""
    with svc.bmc.lock:
        pending = json.dumps(svc.bios_pending, sort_keys=True)
    return f'W/"{hashlib.sha256(pending.encode()).hexdigest()[:16]}"'


def bios_settings(svc) -> dict:
    with svc.bmc.lock:
        attributes = dict(svc.bios_pending)
    return resource(
        "Bios",
        SETTINGS,
        Id="Settings",
        Name="BIOS Configuration Pending Settings",
        AttributeRegistry=REGISTRY,
        Attributes=attributes,
        **{
            "@odata.etag": etag(svc),
            "@Redfish.SettingsApplyTime": {
                "@odata.type": "#Settings.v1_3_5.PreferredApplyTime",
                "ApplyTime": APPLY_TIMES[0],
                "ApplyTime@Redfish.AllowableValues": list(APPLY_TIMES),
            },
        },
    )


def registries(svc) -> dict:
    return collection(
        "MessageRegistryFileCollection", REGISTRIES, "Registry File Collection", [REGISTRY_FILE]
    )


def registry_file(svc) -> dict:
    return resource(
        "MessageRegistryFile",
        REGISTRY_FILE,
        Id="HeatsiteLabBiosAttributeRegistry",
        Name="Heatsite Lab BIOS Attribute Registry File",
        Languages=["en"],
        Registry=REGISTRY,
        Location=[{"Language": "en", "Uri": REGISTRY_URI}],
    )


def registry(svc) -> dict:
    return resource(
        "AttributeRegistry",
        REGISTRY_URI,
        Id=REGISTRY,
        Name="Heatsite Lab BIOS Attribute Registry",
        Language="en",
        OwningEntity="Heatsite Lab",
        RegistryVersion="1.0.0",
        RegistryEntries={"Attributes": [_registry_entry(name) for name in BIOS_DEFAULTS]},
    )


def routes() -> dict:
    return {
        f"{SYSTEM}/Bios": bios,
        SETTINGS: bios_settings,
        RESET_ACTION_INFO: reset_action_info,
        REGISTRIES: registries,
        REGISTRY_FILE: registry_file,
        REGISTRY_URI: registry,
    }


def check_if_match(svc, header: str | None) -> None:
    """An ``If-Match`` that is not the settings object's ETag (nor ``*``) is refused (412)."""
    if header is None or header.strip() == "*":
        return
    current = etag(svc)
    offered = [tag.strip() for tag in header.split(",")]
    if current not in offered:
        raise RedfishError(
            412,
            "PreconditionFailed",
            "The ETag supplied did not match the ETag required to change this resource.",
        )


def check_apply_time(value: object) -> None:
    """``@Redfish.SettingsApplyTime``: an object whose ApplyTime is one the BMC supports."""
    if not isinstance(value, dict):
        raise schema.type_error("@Redfish.SettingsApplyTime", value)
    for key in value:
        if key not in ("ApplyTime", "@odata.type"):
            raise schema.unknown_property(f"@Redfish.SettingsApplyTime/{key}")
    apply_time = value.get("ApplyTime", APPLY_TIMES[0])
    if apply_time not in APPLY_TIMES:
        raise schema.not_in_list("@Redfish.SettingsApplyTime/ApplyTime", apply_time)


def check_attributes(attributes: dict, pending: dict, current: dict) -> None:
    """Every attribute known, writable, of its type and range; then the BMC's own rule that
    SR-IOV needs UEFI boot (checked against what the settings would be after the reset)."""
    for name, value in attributes.items():
        if name in READ_ONLY:
            raise schema.not_writable(f"Attributes/{name}")
        choices = BIOS_CHOICES.get(name)
        if choices is None:
            raise schema.unknown_property(f"Attributes/{name}")
        if isinstance(choices, range):
            if not isinstance(value, int) or isinstance(value, bool):
                raise schema.type_error(f"Attributes/{name}", value)
            if value not in choices:
                raise RedfishError(
                    400,
                    "PropertyValueOutOfRange",
                    f"The value '{value}' for the property "
                    f"Attributes/{name} is not in the supported range of acceptable values.",
                    str(value),
                    f"Attributes/{name}",
                )
        elif value not in choices:
            raise schema.not_in_list(f"Attributes/{name}", value)
    after = {**current, **pending, **attributes}
    if after.get("SriovGlobalEnable") == "Enabled" and after.get("BootMode") != "Uefi":
        raise RedfishError(
            400,
            "PropertyValueConflict",
            "The property 'Attributes/SriovGlobalEnable' could not be written because its value "
            "would conflict with the value of the 'Attributes/BootMode' property.",
            "Attributes/SriovGlobalEnable",
            "Attributes/BootMode",
        )
