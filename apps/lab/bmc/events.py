"""The lab BMC's firmware versions, host boots and system event log, shared by its IPMI and
Redfish faces.

Host state: after the firmware side of a boot (staged BIOS settings and images activated by the
``boot_hooks``), and after a power-off, the ``host_listeners`` get a `HostState`: whether the
host runs (not off, not hung in POST) and the firmware it booted. The lab wires a node's TPM
there (`apps.lab.tpm.host`), so the BMC side never imports TPM code.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
import threading
from collections.abc import Callable

EVENT_LOG_SIZE = 512
# IPMI 2.0 Get System Info Parameters, parameter 1: System Firmware Version (what BIOS reports)
SYSINFO_FIRMWARE_VERSION = 1
SYSINFO_REVISION = 0x11
CC_PARAMETER_NOT_SUPPORTED = 0x80
CC_INVALID_DATA_FIELD = 0xCC
BIOS_VERSION = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class HostState:
    """A lab host as its BMC knows it (given to the ``host_listeners``)."""

    node: str
    boot_count: int
    running: bool  # booted into its OS: powered on and not hung in POST
    firmware: dict[str, str]  # component (BIOS, BMC, NIC, CPLD) -> running version
    # the running BIOS was activated while the ``measures_differently`` fault switch was on
    measures_differently: bool = False


class EventLogMixin:
    """Mixed into `LabBmc`: needs ``lock``, ``events``, ``_event_ids`` and the version fields."""

    lock: threading.RLock
    events: list[dict]
    _event_ids: int
    firmware_major: int
    firmware_minor: int
    aux_firmware: bytes
    nic_firmware: str
    cpld_version: str
    name: str
    boot_count: int
    host_listeners: list[Callable[[HostState], None]]
    bios_measures_differently: bool
    powerstate: str
    host_hung: bool

    @property
    def bmc_version(self) -> str:
        """The BMC firmware as Get Device ID reports it (minor as two BCD digits): "2.41"."""
        return f"{self.firmware_major}.{self.firmware_minor:02d}"

    @property
    def bios_version(self) -> str:
        """The BIOS release carried in the auxiliary revision (major, minor, 0, patch)."""
        aux = self.aux_firmware
        return f"{aux[0]}.{aux[1]}.{aux[3]}"

    def set_bios_version(self, version: str, *, measures_differently: bool = False) -> None:
        """Make ``version`` ("1.5.0", a lab release) the running BIOS; ``measures_differently``:
        this build measures otherwise than its release's reference (a lab fault)."""
        match = BIOS_VERSION.match(version)
        if match is None or any(int(n) > 255 for n in match.groups()):
            raise ValueError(f"bad BIOS version {version!r} (major.minor.patch, each 0-255)")
        a, b, c = (int(n) for n in match.groups())
        with self.lock:
            self.aux_firmware = bytes([a, b, 0, c])
            self.bios_measures_differently = measures_differently

    def host_state(self) -> HostState:
        """Whether the host runs now, and what."""
        with self.lock:
            return HostState(
                node=self.name,
                boot_count=self.boot_count,
                running=self.powerstate == "on" and not self.host_hung,
                firmware={
                    "BIOS": self.bios_version,
                    "BMC": self.bmc_version,
                    "NIC": self.nic_firmware,
                    "CPLD": self.cpld_version,
                },
                measures_differently=self.bios_measures_differently,
            )

    def announce_host(self) -> None:
        """Tell the ``host_listeners`` the host booted (lock held, after the boot hooks) or went
        off. A listener that fails is logged in the SEL and the lab log; the boot stands."""
        if not self.host_listeners:
            return
        state = self.host_state()
        for listener in self.host_listeners:
            try:
                listener(state)
            except Exception as exc:  # the lab keeps serving; the SEL says what went wrong
                logger.exception("lab %s: host listener failed", self.name)
                self.log_event(
                    "System Firmware Progress", f"Lab host hook failed: {exc}", "Critical"
                )

    def get_system_info(self, data: bytes, session) -> None:
        """IPMI Get System Info Parameters (App 0x59): the System Firmware Version string, in
        16-byte sets (set 0: encoding ASCII, length, then the first 14 bytes). The IPMI face
        reports the running BIOS release as text here, as ipmitool's ``mc getsysinfo
        system_fw_version`` reads it."""
        revision_only, selector, set_selector = data[0] & 0x80, data[1], data[2]
        if selector != SYSINFO_FIRMWARE_VERSION:
            session.send_ipmi_response(code=CC_PARAMETER_NOT_SUPPORTED)
            return
        if revision_only:
            session.send_ipmi_response(data=bytes([SYSINFO_REVISION]))
            return
        text = self.bios_version.encode("ascii")
        stream = bytes([0, len(text)]) + text  # encoding 0 = ASCII/Latin-1, then the length
        chunk = stream[set_selector * 16 : set_selector * 16 + 16]
        if not chunk:
            session.send_ipmi_response(code=CC_INVALID_DATA_FIELD)
            return
        payload = bytes([SYSINFO_REVISION, set_selector]) + chunk.ljust(16, b"\0")
        session.send_ipmi_response(data=payload)

    def log_event(self, sensor_type: str, message: str, severity: str = "OK") -> dict:
        """Append a system event (newest last; the oldest drop out past EVENT_LOG_SIZE)."""
        with self.lock:
            self._event_ids += 1
            event = {
                "id": self._event_ids,
                "created": datetime.datetime.now(datetime.UTC),
                "sensor_type": sensor_type,
                "message": message,
                "severity": severity,
            }
            self.events.append(event)
            del self.events[:-EVENT_LOG_SIZE]
            return event

    def raise_intrusion(self) -> dict:
        """The chassis cover was opened (sites share rooms with heating staff)."""
        return self.log_event(
            "Physical Chassis Security", "General chassis intrusion: cover opened", "Critical"
        )

    def clear_events(self) -> None:
        with self.lock:
            self.events.clear()
