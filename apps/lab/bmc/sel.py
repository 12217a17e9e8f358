"""The lab BMC's System Event Log over IPMI: the same events its Redfish face lists.

Storage commands (NetFn 0x0A): Get SEL Info (0x40), Reserve SEL (0x42), Get SEL Entry (0x43)
and Get SEL Time (0x48), over `EventLogMixin.events`. Each event becomes a standard 16-byte
system event record (type 0x02): its record id is the event's id, its timestamp the event's
creation (seconds since 1970, UTC), its sensor type and offset the IPMI code of the event's
sensor type (a chassis intrusion is Physical Security, offset 0, "General Chassis intrusion"),
so an IPMI client decodes it with the standard tables; the Redfish face's message text has no
place in a SEL record.
"""

from __future__ import annotations

import struct
import time
from typing import Any

SEL_VERSION = 0x51
RECORD_SIZE = 16
FIRST, LAST = 0x0000, 0xFFFF
CC_NOT_PRESENT = 0xCB
CC_INVALID_RESERVATION = 0xC5
GENERATOR = (0x20, 0x00)  # the BMC itself (slave address 0x20, LUN 0)
EVM_REV = 0x04
SENSOR_SPECIFIC = 0x6F
THRESHOLD = 0x01
# sensor type (as the lab names it) -> (IPMI sensor type, sensor number, event type, offset)
SENSOR_TYPES: dict[str, tuple[int, int, int, int]] = {
    "Physical Chassis Security": (0x05, 0x60, SENSOR_SPECIFIC, 0x00),  # chassis intrusion
    "Fan": (0x04, 0x05, THRESHOLD, 0x02),  # Fan1 (SDR sensor 5): lower critical, going low
    "Power Supply": (0x08, 0x62, SENSOR_SPECIFIC, 0x00),  # presence detected
    "System Firmware Progress": (0x0F, 0x63, SENSOR_SPECIFIC, 0x02),  # progress
    "Management Subsystem Health": (0x28, 0x64, SENSOR_SPECIFIC, 0x00),
    "System ACPI Power State": (0x22, 0x65, SENSOR_SPECIFIC, 0x00),  # S0/G0 working
}
OTHER = (0x12, 0x66, SENSOR_SPECIFIC, 0x00)  # System Event: system reconfigured
ACPI_OFF = 0x06  # S4/S5 soft-off


def sel_record(event: dict[str, Any]) -> bytes:
    """One event as a 16-byte SEL record (standard system event record, type 0x02)."""
    sensor_type, number, event_type, offset = SENSOR_TYPES.get(event["sensor_type"], OTHER)
    if sensor_type == 0x22 and "off" in str(event.get("message", "")).lower():
        offset = ACPI_OFF
    stamp = int(event["created"].timestamp()) & 0xFFFFFFFF
    return struct.pack(
        "<HBIBBBBBBBBB",
        event["id"] & 0xFFFF,
        0x02,
        stamp,
        *GENERATOR,
        EVM_REV,
        sensor_type,
        number,
        event_type,  # assertion (bit 7 clear)
        offset,  # event data 1: bytes 2 and 3 unspecified
        0xFF,
        0xFF,
    )


class SelMixin:
    """Mixed into `LabBmc`: needs ``events`` (newest last) and the handler lock held."""

    events: list[dict]
    _sel_reservation: int = 0

    def _sel_info(self, data: bytes, session) -> None:
        count = len(self.events)
        last = int(self.events[-1]["created"].timestamp()) if self.events else 0xFFFFFFFF
        free = 0xFFFF  # "unspecified"
        session.send_ipmi_response(
            data=struct.pack("<BHHII", SEL_VERSION, count, free, last, 0xFFFFFFFF)
            + bytes([0x02])  # Reserve SEL supported
        )

    def _sel_reserve(self, data: bytes, session) -> None:
        self._sel_reservation = (self._sel_reservation % 0xFFFF) + 1
        session.send_ipmi_response(data=struct.pack("<H", self._sel_reservation))

    def _sel_entry(self, data: bytes, session) -> None:
        reservation, record_id, offset, size = struct.unpack("<HHBB", data[:6])
        if offset and reservation != self._sel_reservation:
            session.send_ipmi_response(code=CC_INVALID_RESERVATION)  # a partial read needs one
            return
        ids = [event["id"] & 0xFFFF for event in self.events]
        if not ids:
            session.send_ipmi_response(code=CC_NOT_PRESENT)
            return
        if record_id == FIRST:
            index = 0
        elif record_id == LAST:
            index = len(ids) - 1
        elif record_id in ids:
            index = ids.index(record_id)
        else:
            session.send_ipmi_response(code=CC_NOT_PRESENT)
            return
        following = ids[index + 1] if index + 1 < len(ids) else LAST
        record = sel_record(self.events[index])
        chunk = record[offset:] if size == 0xFF else record[offset : offset + size]
        session.send_ipmi_response(data=struct.pack("<H", following) + chunk)

    def _sel_time(self, data: bytes, session) -> None:
        session.send_ipmi_response(data=struct.pack("<I", int(time.time()) & 0xFFFFFFFF))
