"""The Redfish adapter (sushy underneath): `RedfishDriver`, pinned TLS and cached sessions."""

from apps.hardware.drivers.redfish.driver import RedfishDriver
from apps.hardware.drivers.redfish.transport import cached_clients, close_all, fetch_certificate

__all__ = ["RedfishDriver", "cached_clients", "close_all", "fetch_certificate"]
