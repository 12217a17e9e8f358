"""The Redfish adapter (sushy underneath): `RedfishDriver`, pinned TLS and cached sessions."""

from apps.hardware.drivers.redfish.driver import RedfishDriver
from apps.hardware.drivers.redfish.transport import (
    ServiceRoot,
    cached_clients,
    close_all,
    fetch_certificate,
    probe,
)

__all__ = [
    "RedfishDriver",
    "ServiceRoot",
    "cached_clients",
    "close_all",
    "fetch_certificate",
    "probe",
]
