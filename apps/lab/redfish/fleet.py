"""Lab BMCs with both faces: IPMI over UDP and Redfish over HTTPS, sharing each node's state.

with DualFaceLab(count=4, state_dir=tmp) as lab:
    lab.ipmi.endpoint(0)      # the IPMI driver's BmcEndpoint
    lab.redfish.endpoint(0)   # RedfishEndpoint: URL, credentials, certificate, fingerprint
"""

from __future__ import annotations

from pathlib import Path

from apps.lab.bmc import LabBmcServer
from apps.lab.redfish.server import DEFAULT_STATE_DIR, LabRedfishServer


class DualFaceLab:
    """A `LabBmcServer` and a `LabRedfishServer` over the same BMCs, started and stopped together.

    ``redfish_options`` go to `LabRedfishServer` (``port_offset``, ``clock``, ``session_timeout``,
    ``max_sessions``); everything else to `LabBmcServer`.
    """

    def __init__(
        self,
        *,
        state_dir: Path | str = DEFAULT_STATE_DIR,
        redfish_options: dict | None = None,
        **ipmi_options,
    ):
        self.ipmi = LabBmcServer(**ipmi_options)
        self.state_dir = state_dir
        self.redfish_options = dict(redfish_options or {})
        self.redfish: LabRedfishServer | None = None

    def start(self) -> DualFaceLab:
        self.ipmi.start()
        try:
            self.redfish = LabRedfishServer(
                self.ipmi.bmcs, state_dir=self.state_dir, **self.redfish_options
            ).start()
        except BaseException:
            self.ipmi.stop()
            raise
        return self

    def stop(self) -> None:
        if self.redfish is not None:
            self.redfish.stop()
        self.ipmi.stop()

    def __enter__(self) -> DualFaceLab:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def bmc(self, index: int):
        return self.ipmi.bmc(index)
