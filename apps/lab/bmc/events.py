"""The lab BMC's firmware versions and system event log, shared by its IPMI and Redfish faces."""

from __future__ import annotations

import datetime
import threading

EVENT_LOG_SIZE = 512


class EventLogMixin:
    """Mixed into `LabBmc`: needs ``lock``, ``events``, ``_event_ids`` and the version fields."""

    lock: threading.RLock
    events: list[dict]
    _event_ids: int
    firmware_major: int
    firmware_minor: int
    aux_firmware: bytes

    @property
    def bmc_version(self) -> str:
        """The BMC firmware as Get Device ID reports it (minor as two BCD digits): "2.41"."""
        return f"{self.firmware_major}.{self.firmware_minor:02d}"

    @property
    def bios_version(self) -> str:
        """The BIOS release carried in the auxiliary revision (major, minor, 0, patch)."""
        aux = self.aux_firmware
        return f"{aux[0]}.{aux[1]}.{aux[3]}"

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
