"""One simulated BMC and the water-cooled node behind it.

`LabBmc` extends pyghmi's ``Bmc`` (power, boot device, chassis status, device id) with what a
real BMC in a heat-reuse site offers: SDR sensors that follow the node's state and the site's
water loop, DCMI power, FRU, firmware versions, a serial-over-LAN console with a boot banner and
a small shell, session limits, idle timeouts and fault switches. All protocol work runs on the
`LabBmcServer` loop thread; tests change state and faults from other threads with plain
attribute writes or the methods below.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import struct
import threading
import time
import uuid as uuidlib
from typing import TYPE_CHECKING

import pyghmi.ipmi.bmc as pyghmi_bmc

from apps.lab.bmc import records
from apps.lab.bmc.events import EventLogMixin
from apps.lab.bmc.records import SensorSpec
from apps.lab.bmc.sel import SelMixin
from apps.lab.bmc.session import RAKP_TYPES, LabSession
from apps.lab.bmc.users import UserAccountsMixin
from apps.lab.firmware import LAB_BIOS_VERSION, LAB_BMC_VERSION

if TYPE_CHECKING:
    from apps.lab.bmc.server import LabBmcServer

WATER_HEAT_CAPACITY = 4186.0  # J/(kg K)
CC_NOT_IN_STATE = 0xD5
CC_INVALID = 0xC1
CC_LENGTH_EXCEEDED = 0xC8
CC_OUT_OF_RANGE = 0xC9
CC_NOT_PRESENT = 0xCB
CC_INVALID_DATA = 0xCC
MANUFACTURER_ID = 0xD2D2  # private number: must not match a pyghmi OEM plug-in
PRODUCT_ID = 0x4853  # "HS"

SENSORS = (
    SensorSpec(1, "CPU1 Temp", records.TYPE_TEMPERATURE, records.UNIT_DEGREES_C, 0x03, 5, -1,
               upper_non_critical=85, upper_critical=95),
    SensorSpec(2, "CPU2 Temp", records.TYPE_TEMPERATURE, records.UNIT_DEGREES_C, 0x03, 5, -1,
               upper_non_critical=85, upper_critical=95),
    SensorSpec(3, "Water Inlet", records.TYPE_TEMPERATURE, records.UNIT_DEGREES_C, 0x07, 5, -1,
               upper_non_critical=55, upper_critical=65),
    SensorSpec(4, "Water Outlet", records.TYPE_TEMPERATURE, records.UNIT_DEGREES_C, 0x07, 5, -1,
               upper_non_critical=65, upper_critical=75),
    SensorSpec(5, "Fan1", records.TYPE_FAN, records.UNIT_RPM, 0x1D, 100, 0,
               lower_critical=300, lower_non_critical=500),
    SensorSpec(6, "12V", records.TYPE_VOLTAGE, records.UNIT_VOLTS, 0x07, 1, -1,
               lower_critical=10.8, lower_non_critical=11.4,
               upper_non_critical=12.6, upper_critical=13.2),
    SensorSpec(7, "System Power", records.TYPE_OTHER_UNITS, records.UNIT_WATTS, 0x15, 4, 0,
               upper_non_critical=900, upper_critical=1000),
)  # fmt: skip
HOST_SENSORS = {1, 2, 5, 6}  # only read while the host runs; "no reading" when off
SDR_RECORDS = [records.full_sensor_record(i + 1, spec) for i, spec in enumerate(SENSORS)]

BOOT_CODES = {"default": 0, "network": 1, "disk": 2, "safe": 3, "cdrom": 5, "bios": 6, "usb": 15}
BOOT_NAMES = {code: name for name, code in BOOT_CODES.items()}
# Devices only the Redfish face can select; IPMI has no code for them and reports the nearest.
IPMI_NEAREST = {"http": "network"}

SOL_CHUNK = 200


@dataclasses.dataclass
class Faults:
    """Fault switches of one lab BMC, changed at runtime by tests or the CLI."""

    unreachable: bool = False  # drop every packet
    slow_ms: int = 0  # answer this much later
    wrong_credentials: bool = False  # reject every login as a bad password
    sessions_full: bool = False  # no free session slot
    stuck_power: bool = False  # accept power actions, never change state
    suite3_only: bool = False  # refuse cipher suite 17
    no_dcmi: bool = False  # DCMI commands are unknown (0xC1)
    fru_read_cap: int | None = None  # Read FRU Data larger than this -> 0xC8
    image_rejected: bool = False  # Redfish: every firmware image fails verification
    task_stuck: bool = False  # Redfish: update tasks stop at 42 %
    monitor_gone: bool = False  # Redfish: a task monitor is 404 as soon as the task completes
    update_noop: bool = False  # Redfish: updates "complete" but the version does not change
    no_boot_after_update: bool = False  # the host hangs in POST after activating an update
    # a BIOS activated while this is on measures otherwise than its release's reference
    measures_differently: bool = False
    password_refused: bool = False  # both faces refuse account password changes (privilege)
    password_ignored: bool = False  # both faces answer "done" and keep the old password


class LabBmc(EventLogMixin, SelMixin, UserAccountsMixin, pyghmi_bmc.Bmc):
    """A simulated BMC on one UDP port; see the module docstring."""

    def __init__(
        self,
        server: LabBmcServer,
        sock,
        *,
        index: int,
        name: str,
        username: str = "admin",
        password: str = "password",  # noqa: S107 - the lab's documented demo credential
        nominal_power_w: float = 500.0,
        load: float = 0.6,
        power_delay: float = 0.0,
        max_sessions: int = 16,
        idle_timeout: float = 60.0,
        power: str = "on",
        faults: Faults | None = None,
    ):
        # pyghmi's IpmiServer.__init__ would bind a socket inside pyghmi's client I/O machinery;
        # the lab owns its sockets and event loop, so only the attributes are set here.
        self.server = server
        self.socket = self.serversocket = sock
        self.port = sock.getsockname()[1]
        self.index = index
        self.name = name
        self.authdata = {username: password}
        self.username = username
        self.kg = None
        self.uuid = uuidlib.uuid5(uuidlib.NAMESPACE_DNS, f"{name}.lab.heatsite")
        self.timeout = idle_timeout
        self.faults = faults or Faults()
        self.lock = threading.RLock()
        # firmware reported by Get Device ID
        self.firmware_major, self.firmware_minor = (int(n) for n in LAB_BMC_VERSION.split("."))
        self.set_bios_version(LAB_BIOS_VERSION)  # in the auxiliary revision
        self.nic_firmware = "22.31.1014"
        self.cpld_version = "1.0.4"
        # the system event log both faces show (the Redfish face as LogServices/SEL)
        self.events: list[dict] = []
        self._event_ids = 0
        # node state
        self.nominal_power_w = float(nominal_power_w)
        self.load = float(load)
        self.flow_l_min = 1.5
        self.power_delay = float(power_delay)
        self.max_sessions = max_sessions
        self.idle_timeout = float(idle_timeout)
        self.powerstate = power
        self.pending_power: str | None = None
        self._transition = 0
        self.boot_count = 1 if power == "on" else 0
        self.boot = {"device": "default", "persistent": False, "uefi": False}
        self.boot_hooks: list = []  # called (lock held) each time the host boots
        self.host_listeners: list = []  # given a `HostState` after each boot and power-off
        self.host_hung = False  # in POST after an update (the Redfish face's fault)
        self.chassis_controls: list[str] = []
        self.requests: dict[tuple[int, int], int] = {}
        self.sessions: dict[int, LabSession] = {}
        self.pending: dict[int, LabSession] = {}
        self.serial = f"HS{index:06d}"
        self.fru = records.fru_image(
            manufacturer="Heatsite Lab",
            product="HX-500 water-cooled node",
            serial=self.serial,
            part_number="HX-500-WC",
            board_serial=f"BRD{index:06d}",
            chassis_serial=f"CHS{index:06d}",
            version="A1",
        )
        # serial over LAN
        self.sol: LabSession | None = None
        self.sol_out = bytearray()
        self.sol_seq = 0
        self.sol_awaiting: bytes | None = None
        self.sol_retries = 0
        self.sol_last_in = 0
        self.sol_line = bytearray()
        self.console_log = bytearray()

    # --- state seen by the physics -----------------------------------------------------

    @property
    def loop_return_c(self) -> float:
        return self.server.loop_return_c

    def system_power_w(self) -> float:
        """Electrical input power: nominal x load while running, 0 W when off."""
        return self.nominal_power_w * self.load if self.powerstate == "on" else 0.0

    def readings(self) -> dict[int, float | None]:
        """Engineering values per sensor number (None = no reading)."""
        on = self.powerstate == "on"
        power = self.system_power_w()
        inlet = self.loop_return_c
        flow_kg_s = self.flow_l_min / 60.0
        # the cold plates carry (nearly) all the heat into the water loop
        outlet = inlet + power / (flow_kg_s * WATER_HEAT_CAPACITY)
        cpu = outlet + 8.0 + 30.0 * self.load
        return {
            1: cpu if on else None,
            2: cpu - 1.5 if on else None,
            3: inlet,
            4: outlet,
            5: 1800.0 + 3000.0 * self.load if on else None,
            6: 12.1 if on else None,
            7: power,
        }

    # --- sessions -----------------------------------------------------------------------

    def password_for(self, username: str) -> str | None:
        password = self.authdata.get(username)
        if password is not None and self.faults.wrong_credentials:
            return password + "-rotated"
        return password

    def all_session_ids(self) -> set[int]:
        return set(self.sessions) | set(self.pending)

    def has_free_slot(self) -> bool:
        if self.faults.sessions_full:
            return False
        return len(self.sessions) + len(self.pending) < self.max_sessions

    def session_established(self, sess: LabSession) -> None:
        self.pending.pop(sess.bmc_session_id, None)
        self.sessions[sess.bmc_session_id] = sess

    def close_session(self, sess: LabSession) -> None:
        self.sessions.pop(sess.bmc_session_id, None)
        self.pending.pop(sess.bmc_session_id, None)
        if self.sol is sess:
            self._sol_stop()

    def expire_sessions(self, now: float) -> None:
        """Silently forget idle sessions, as real BMCs do."""
        for table, limit in ((self.sessions, self.idle_timeout), (self.pending, 10.0)):
            for _sid, sess in list(table.items()):
                if now - sess.last_activity > limit:
                    self.close_session(sess)

    # --- packets ------------------------------------------------------------------------

    def datagram(self, data: bytes, addr) -> None:
        """Entry point for every UDP packet to this BMC (loop thread)."""
        if self.faults.unreachable:
            return
        if self.faults.slow_ms:
            self.server.call_later(self.faults.slow_ms / 1000.0, self._handle, data, addr)
            return
        self._handle(data, addr)

    def transmit(self, packet: bytes, addr) -> None:
        if self.faults.unreachable:
            return
        # a vanished client is its own problem, as with UDP on a real network
        with contextlib.suppress(OSError):
            self.socket.sendto(packet, addr)

    def _handle(self, data: bytes, addr) -> None:
        data = bytearray(data)
        if len(data) < 16 or data[0] != 6 or data[2:4] != b"\xff\x07":
            return
        if data[4] != 6:  # IPMI 1.5 framing: only sessionless commands
            self.sessionless_data(data, addr)
            return
        ptype = data[5] & 0x3F
        sid = struct.unpack("<I", bytes(data[6:10]))[0]
        if ptype == 0x10:
            sess = LabSession(self, addr, bytes(data[16:]))
            if sess.open_status == 0:
                self.pending[sess.bmc_session_id] = sess
            return
        if ptype in RAKP_TYPES:
            if len(data) < 24:
                return
            sess = self.pending.get(struct.unpack("<I", bytes(data[20:24]))[0])
        elif sid == 0:
            self.sessionless_data(data, addr)
            return
        else:
            sess = self.sessions.get(sid)
        if sess is None or sess.sockaddr != addr:
            return
        sess.last_activity = time.monotonic()
        sess._handle_ipmi2_packet(data)

    def send_cipher_suites(self, myaddr, mylun, clientaddr, clientlun, clientseq, data, addr):
        # pyghmi advertises suite 3 only; list 3 and (unless faulted) 17, 16 bytes per index
        suites = bytes([0xC0, 3, 0x01, 0x41, 0x81])
        if not self.faults.suite3_only:
            suites += bytes([0xC0, 17, 0x03, 0x44, 0x81])
        index = data[22] & 0x3F if len(data) > 22 else 0
        body = bytes([0x00, 0x01]) + suites[16 * index : 16 * index + 16]
        ipmihdr = bytearray([clientaddr, clientlun | (7 << 2)])
        ipmihdr.append(_checksum(ipmihdr))
        rq = bytearray([myaddr, mylun | clientseq << 2, 0x54]) + body
        rq.append(_checksum(rq))
        msg = ipmihdr + rq
        header = bytes([6, 0, 0xFF, 7, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0]) + struct.pack("<H", len(msg))
        self.transmit(header + bytes(msg), addr)

    def send_auth_cap(self, myaddr, mylun, clientaddr, clientlun, clientseq, addr):
        header = bytearray(b"\x06\x00\xff\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10")
        hdr = [clientaddr, clientlun | (7 << 2)]
        header += bytearray([*hdr, _checksum(hdr), myaddr, mylun | (clientseq << 2), 0x38])
        header += bytes([0, 1, 0x80, 0x04, 0x02, 0, 0, 0, 0])
        header.append(_checksum(header[17:]))
        self.transmit(bytes(header), addr)

    # --- IPMI commands ------------------------------------------------------------------

    def handle_raw_request(self, request, session):
        netfn, command = request["netfn"], request["command"]
        key = (netfn, command)
        self.requests[key] = self.requests.get(key, 0) + 1
        handler = _HANDLERS.get(key)
        if handler is None:
            session.send_ipmi_response(code=CC_INVALID)
            return
        try:
            with self.lock:
                handler(self, bytes(request["data"]), session)
        except IndexError:
            session.send_ipmi_response(code=CC_INVALID_DATA)

    def send_device_id(self, data, session):
        # pyghmi packs the manufacturer as 4 bytes, which shifts the product id
        minor_bcd = int(str(self.firmware_minor % 100), 16)
        data = bytes([0x20, 0x01, self.firmware_major & 0x7F, minor_bcd, 0x02, 0x0A])
        data += MANUFACTURER_ID.to_bytes(3, "little") + PRODUCT_ID.to_bytes(2, "little")
        session.send_ipmi_response(data=data + self.aux_firmware)

    def _get_guid(self, data, session):
        session.send_ipmi_response(data=self.uuid.bytes_le)

    def _chassis_status(self, data, session):
        self.get_chassis_status(session)

    def _chassis_control(self, data, session):
        self.control_chassis({"data": data}, session)

    def get_power_state(self):
        return self.powerstate

    def _power(self, action: str) -> int:
        """Run a chassis control directive; returns the completion code."""
        self.chassis_controls.append(action)
        on = self.powerstate == "on"
        if action in ("reset", "cycle", "soft", "diag") and not on:
            return CC_NOT_IN_STATE
        if self.faults.stuck_power or action == "diag":
            return 0
        if (action == "on" and on) or (action == "off" and not on):
            return 0
        target = {"on": "on", "off": "off", "soft": "off", "reset": "reboot", "cycle": "reboot"}
        self._transition += 1
        self.pending_power = target[action]
        if self.power_delay > 0:
            self.server.call_later(self.power_delay, self._complete, self._transition, action)
        else:
            self._complete(self._transition, action)  # before the next request is read
        return 0

    def _complete(self, transition: int, action: str) -> None:
        with self.lock:
            if transition != self._transition:
                return  # superseded by a later action
            self.pending_power = None
            if action in ("off", "soft"):
                self.powerstate = "off"
                self.log_event("System ACPI Power State", "Host powered off (S5/G2)")
                self.sol_write(b"\r\n[  OK  ] Reached target Power-Off.\r\n")
                self.announce_host()
                return
            self.powerstate = "on"
            self.boot_count += 1
            self.log_event("System ACPI Power State", f"Host powered on (boot #{self.boot_count})")
            for hook in self.boot_hooks:
                hook()
            self.announce_host()
            self._banner()

    def power_on(self):
        return self._power("on")

    def power_off(self):
        return self._power("off")

    def power_cycle(self):
        return self._power("cycle")

    def power_reset(self):
        return self._power("reset")

    def power_shutdown(self):
        return self._power("soft")

    def pulse_diag(self):
        return self._power("diag")

    def _get_boot_options(self, data, session):
        if data[0] & 0x7F != 5:
            session.send_ipmi_response(data=[1, data[0] & 0x7F, 0])
            return
        flags = 0
        device = BOOT_CODES[IPMI_NEAREST.get(self.boot["device"], self.boot["device"])]
        if device:
            flags = 0x80 | (0x40 if self.boot["persistent"] else 0)
            flags |= 0x20 if self.boot["uefi"] else 0
        session.send_ipmi_response(data=[1, 5, flags, device << 2, 0, 0, 0])

    def _set_boot_options(self, data, session):
        if data[0] & 0x7F != 5:
            session.send_ipmi_response()  # progress/ack parameters: accepted, not modelled
            return
        flags, device = data[1], (data[2] >> 2) & 0x0F
        if device not in BOOT_NAMES:
            session.send_ipmi_response(code=CC_INVALID_DATA)
            return
        if not flags & 0x80:
            device = 0
        self.boot = {
            "device": BOOT_NAMES[device],
            "persistent": bool(flags & 0x40) and device != 0,
            "uefi": bool(flags & 0x20) and device != 0,
        }
        session.send_ipmi_response()

    # sensors and SDR

    def _sdr_info(self, data, session):
        count = len(SDR_RECORDS)
        stamp = struct.pack("<I", 1_700_000_000)
        session.send_ipmi_response(
            data=bytes([0x51, count & 0xFF, count >> 8, 0xFF, 0xFF]) + stamp + stamp + b"\x02"
        )

    def _reserve_sdr(self, data, session):
        session.send_ipmi_response(data=[0x01, 0x00])

    def _get_sdr(self, data, session):
        record_id = data[2] | data[3] << 8
        offset, size = data[4], data[5]
        index = 0 if record_id == 0 else record_id - 1
        if not 0 <= index < len(SDR_RECORDS):
            session.send_ipmi_response(code=CC_NOT_PRESENT)
            return
        record = SDR_RECORDS[index]
        nxt = index + 2 if index + 1 < len(SDR_RECORDS) else 0xFFFF
        chunk = record[offset:] if size == 0xFF else record[offset : offset + size]
        session.send_ipmi_response(data=struct.pack("<H", nxt) + chunk)

    def _sensor_spec(self, number: int) -> SensorSpec | None:
        return next((s for s in SENSORS if s.number == number), None)

    def _sensor_reading(self, data, session):
        spec = self._sensor_spec(data[0])
        if spec is None:
            session.send_ipmi_response(code=CC_NOT_PRESENT)
            return
        value = self.readings()[spec.number]
        if value is None:
            session.send_ipmi_response(data=[0, 0x20, 0xC0])  # reading unavailable
            return
        raw = spec.to_raw(value)
        session.send_ipmi_response(data=[raw, 0x40, 0xC0 | spec.status_bits(raw)])

    def _sensor_thresholds(self, data, session):
        spec = self._sensor_spec(data[0])
        if spec is None:
            session.send_ipmi_response(code=CC_NOT_PRESENT)
            return
        session.send_ipmi_response(data=[spec.threshold_mask, *spec.thresholds_raw()])

    def _sensor_hysteresis(self, data, session):
        if self._sensor_spec(data[0]) is None:
            session.send_ipmi_response(code=CC_NOT_PRESENT)
            return
        session.send_ipmi_response(data=[0, 0])

    # FRU

    def _fru_info(self, data, session):
        if data[0] != 0:
            session.send_ipmi_response(code=CC_NOT_PRESENT)
            return
        session.send_ipmi_response(data=struct.pack("<HB", len(self.fru), 0))

    def _fru_read(self, data, session):
        fruid, offset, count = data[0], data[1] | data[2] << 8, data[3]
        if fruid != 0:
            session.send_ipmi_response(code=CC_NOT_PRESENT)
            return
        cap = self.faults.fru_read_cap
        if cap is not None and count > cap:
            session.send_ipmi_response(code=CC_LENGTH_EXCEEDED)
            return
        if offset >= len(self.fru):
            session.send_ipmi_response(code=CC_OUT_OF_RANGE)
            return
        chunk = self.fru[offset : offset + count]
        session.send_ipmi_response(data=bytes([len(chunk)]) + chunk)

    # DCMI

    def _dcmi(self, data, session, command: int):
        if self.faults.no_dcmi or not data or data[0] != 0xDC:
            session.send_ipmi_response(code=CC_INVALID)
            return
        if command == 0x01:  # capabilities: power management supported
            session.send_ipmi_response(data=[0xDC, 1, 5, 2, 1, 0, 0, 0])
            return
        watts = round(self.system_power_w())
        stamp = int(time.time())
        body = struct.pack("<BHHHHIIB", 0xDC, watts, watts, watts, watts, stamp, 1000, 0x40)
        session.send_ipmi_response(data=body)

    def _dcmi_caps(self, data, session):
        self._dcmi(data, session, 0x01)

    def _dcmi_power(self, data, session):
        self._dcmi(data, session, 0x02)

    # serial over LAN

    def _activate_payload(self, data, session):
        if data[0] != 1:
            session.send_ipmi_response(code=CC_INVALID_DATA)
            return
        if self.sol is not None and self.sol is not session:
            session.send_ipmi_response(code=0x80)  # already active for another session
            return
        self.sol = session
        self.sol_seq = 0
        self.sol_awaiting = None
        self.sol_last_in = 0
        session.sol_handler = self._sol_received
        size = struct.pack("<H", SOL_CHUNK)
        session.send_ipmi_response(
            data=b"\x00\x00\x00\x00" + size + size + struct.pack("<H", self.port) + b"\xff\xff"
        )
        self.sol_write(f"\r\n{self.name} serial console (type 'help')\r\n$ ".encode())

    def _deactivate_payload(self, data, session):
        if self.sol is None:
            session.send_ipmi_response(code=0x80)
            return
        session.send_ipmi_response()
        self._sol_stop()

    def _payload_instance_info(self, data, session):
        owner = self.sol.bmc_session_id if self.sol is not None else 0
        session.send_ipmi_response(data=struct.pack("<I", owner) + bytes(8))

    def _sol_stop(self) -> None:
        if self.sol is not None:
            self.sol.sol_handler = None
        self.sol = None
        self.sol_out.clear()
        self.sol_awaiting = None

    def _sol_received(self, payload) -> None:
        if isinstance(payload, dict) or self.sol is None:
            return
        seq, ack = payload[0] & 0x0F, payload[1] & 0x0F
        text = bytes(payload[4:])
        if seq:
            self.sol.send_sol(bytes([0, seq, len(text), 0]))
            if seq != self.sol_last_in:  # not a retransmission
                self.sol_last_in = seq
                self._shell_input(text)
        if ack and self.sol_awaiting is not None and ack == self.sol_seq:
            self.sol_awaiting = None
            self._sol_pump()

    def sol_write(self, text: bytes) -> None:
        """Queue console output (also kept in ``console_log``, the last 16 KiB)."""
        with self.lock:
            self.console_log += text
            del self.console_log[:-16384]
            if self.sol is None:
                return
            self.sol_out += text
            if self.sol_awaiting is None:
                self._sol_pump()

    def _sol_pump(self) -> None:
        if self.sol is None or self.sol_awaiting is not None or not self.sol_out:
            return
        chunk = bytes(self.sol_out[:SOL_CHUNK])
        del self.sol_out[:SOL_CHUNK]
        self.sol_seq = self.sol_seq % 15 + 1
        self.sol_awaiting = bytes([self.sol_seq, 0, 0, 0]) + chunk
        self.sol_retries = 0
        self.sol.send_sol(self.sol_awaiting)
        self.server.call_later(1.0, self._sol_retry, self.sol_seq, self.sol)

    def _sol_retry(self, seq: int, owner: LabSession) -> None:
        with self.lock:
            if self.sol is not owner or self.sol_awaiting is None or self.sol_seq != seq:
                return
            self.sol_retries += 1
            if self.sol_retries > 5:
                self._sol_stop()  # the viewer went away
                return
            owner.send_sol(self.sol_awaiting)
            self.server.call_later(1.0, self._sol_retry, seq, owner)

    def _banner(self) -> None:
        self.sol_write(
            f"\r\nHeatsite Lab UEFI firmware {self.bios_version}\r\n".encode()
            + b"Memory test ... 262144 MB OK\r\n"
            b"Cold plate loop: flow OK\r\n"
            + f"Booting {self.name} (boot #{self.boot_count})\r\n".encode()
            + f"\r\n{self.name} login: root (automatic)\r\n$ ".encode()
        )

    def _shell_input(self, text: bytes) -> None:
        for byte in text:
            char = bytes([byte])
            if char in (b"\r", b"\n"):
                line = self.sol_line.decode("utf-8", "replace").strip()
                self.sol_line.clear()
                self.sol_write(b"\r\n" + self._shell(line) + b"$ ")
            elif char in (b"\x7f", b"\x08"):
                del self.sol_line[-1:]
            else:
                self.sol_line += char
                self.sol_write(char)  # echo like a terminal

    def _shell(self, line: str) -> bytes:
        cmd, _, rest = line.partition(" ")
        if not cmd:
            return b""
        if cmd == "help":
            out = "commands: help, uname, power, date, echo TEXT"
        elif cmd == "uname":
            out = f"Linux {self.name} 6.1.0-heatsite-lab #1 SMP x86_64 GNU/Linux"
        elif cmd == "power":
            out = f"power {self.powerstate}, {self.system_power_w():.0f} W, load {self.load:.2f}"
        elif cmd == "date":
            out = datetime.datetime.now(datetime.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
        elif cmd == "echo":
            out = rest
        else:
            out = f"{cmd}: command not found"
        return out.encode() + b"\r\n"

    # --- for tests and the CLI ----------------------------------------------------------

    @property
    def power_state(self) -> str:
        return self.powerstate

    def set_power(self, state: str) -> None:
        """Force the node's power state instantly (no transition, no banner)."""
        with self.lock:
            self._transition += 1
            self.pending_power = None
            self.powerstate = state

    def request_count(self, netfn: int, command: int) -> int:
        """How many times a command reached this BMC (netfn of the request)."""
        return self.requests.get((netfn, command), 0)


def _checksum(data) -> int:
    return (-sum(data)) & 0xFF


_HANDLERS = {
    (0x06, 0x01): LabBmc.send_device_id,
    (0x06, 0x37): LabBmc._get_guid,
    (0x06, 0x44): LabBmc._get_user_access,
    (0x06, 0x46): LabBmc._get_user_name,
    (0x06, 0x47): LabBmc._set_user_password,
    (0x06, 0x48): LabBmc._activate_payload,
    (0x06, 0x49): LabBmc._deactivate_payload,
    (0x06, 0x4B): LabBmc._payload_instance_info,
    (0x06, 0x59): LabBmc.get_system_info,
    (0x00, 0x01): LabBmc._chassis_status,
    (0x00, 0x02): LabBmc._chassis_control,
    (0x00, 0x08): LabBmc._set_boot_options,
    (0x00, 0x09): LabBmc._get_boot_options,
    (0x04, 0x2D): LabBmc._sensor_reading,
    (0x04, 0x27): LabBmc._sensor_thresholds,
    (0x04, 0x25): LabBmc._sensor_hysteresis,
    (0x0A, 0x10): LabBmc._fru_info,
    (0x0A, 0x11): LabBmc._fru_read,
    (0x0A, 0x20): LabBmc._sdr_info,
    (0x0A, 0x22): LabBmc._reserve_sdr,
    (0x0A, 0x23): LabBmc._get_sdr,
    (0x0A, 0x40): LabBmc._sel_info,
    (0x0A, 0x42): LabBmc._sel_reserve,
    (0x0A, 0x43): LabBmc._sel_entry,
    (0x0A, 0x48): LabBmc._sel_time,
    (0x2C, 0x01): LabBmc._dcmi_caps,
    (0x2C, 0x02): LabBmc._dcmi_power,
}
