"""BMC drivers: the port (`base`) and one adapter per protocol."""

from apps.hardware.drivers.base import (
    BmcDriver,
    BmcEndpoint,
    BmcError,
    BootDevice,
    CertificateInfo,
    FirmwareComponent,
    FirmwareVersion,
    FruInventory,
    PowerResult,
    PowerState,
    SensorReading,
    driver_for,
)

__all__ = [
    "BmcDriver",
    "BmcEndpoint",
    "BmcError",
    "BootDevice",
    "CertificateInfo",
    "FirmwareComponent",
    "FirmwareVersion",
    "FruInventory",
    "PowerResult",
    "PowerState",
    "SensorReading",
    "driver_for",
]
