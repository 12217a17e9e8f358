"""BMC drivers: the port (`base`) and one adapter per protocol."""

from apps.hardware.drivers.base import (
    BiosAttribute,
    BiosSettings,
    BmcDriver,
    BmcEndpoint,
    BmcError,
    BootDevice,
    CertificateInfo,
    FirmwareComponent,
    FirmwareVersion,
    FruInventory,
    LogEntry,
    PowerResult,
    PowerState,
    SensorReading,
    driver_for,
)

__all__ = [
    "BiosAttribute",
    "BiosSettings",
    "BmcDriver",
    "BmcEndpoint",
    "BmcError",
    "BootDevice",
    "CertificateInfo",
    "FirmwareComponent",
    "FirmwareVersion",
    "FruInventory",
    "LogEntry",
    "PowerResult",
    "PowerState",
    "SensorReading",
    "driver_for",
]
