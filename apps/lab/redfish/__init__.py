"""The lab BMCs' Redfish faces: HTTPS on loopback, sharing state with their IPMI faces.

`server.LabRedfishServer` serves them; `service` holds one BMC's Redfish behaviour, `resources`
and `chassis` its resource bodies, `schema` the DMTF names, `certs` the TLS certificates.
"""

from apps.lab.redfish.server import LabRedfishServer, RedfishEndpoint

__all__ = ["LabRedfishServer", "RedfishEndpoint"]
