"""The IPMI adapter: `BmcDriver` on top of pyghmi (with `apps.hardware.pyghmi_compat` applied).

* One pyghmi session per BMC account per process, cached and rebuilt when broken; after
  ``fork()`` the cache starts empty (the parent's sessions belong to the parent).
* A housekeeper thread drives pyghmi's event loop so that keepalives are sent while idle.
* Every call is bounded in time: logins wait at most ``timeout`` seconds, and an established
  session gives up after a number of retransmits that fits in ``timeout`` (pyghmi alone would
  take about 28 s to notice a dead BMC, and 5 s to fail a login).
* A BMC that offers only cipher suite 3, has no DCMI, caps FRU reads or refuses a command
  degrades: the feature is unavailable (``None`` or ``BmcError("not_supported")``), the session
  stays usable.
* pyghmi's messages and completion codes become `BmcError` causes.
"""

from __future__ import annotations

import dataclasses
import datetime
import struct
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import pyghmi.exceptions as pexc
from pyghmi.ipmi import command as ipmi_command
from pyghmi.ipmi.private import session as ipmi_session

from apps.hardware import pyghmi_compat
from apps.hardware.drivers.base import (
    POWER_ACTIONS,
    BmcDriver,
    BmcEndpoint,
    BmcError,
    BootDevice,
    FirmwareVersion,
    FruInventory,
    LogEntry,
    PowerResult,
    PowerState,
    SensorReading,
)

pyghmi_compat.apply()

T = TypeVar("T")

DEFAULT_TIMEOUT = 3.0
CHASSIS_CONTROL = {"off": 0, "on": 1, "cycle": 2, "reset": 3, "soft": 5}
CC_INVALID_COMMAND = 0xC1
CC_NOT_IN_STATE = 0xD5
MAX_PASSWORD_BYTES = 20  # IPMI 2.0 Set User Password, 20-byte form
MAX_USER_SLOTS = 63
TO_PYGHMI_BOOT = {
    "default": "default",
    "network": "network",
    "disk": "hd",
    "bios": "setup",
    "cdrom": "optical",
    "usb": "usb",
    "safe": "safe",
}
FROM_PYGHMI_BOOT = {
    "default": "default",
    "network": "network",
    "hd": "disk",
    "setup": "bios",
    "optical": "cdrom",
    "floppy": "usb",
    "safe": "safe",
}
UNIT_KIND = {"°C": "temperature", "RPM": "fan", "V": "voltage", "W": "power"}
MAX_LOG_LIMIT = 1000
PRE_INIT = 0x20000000  # SEL timestamps below this count seconds since BMC start, not a date
PHYSICAL_SECURITY = 0x05  # IPMI sensor type; sensor-specific offset 0: chassis intrusion

# pyghmi message fragments -> cause; the first match wins
MESSAGE_CAUSES = (
    ("Incorrect password", "bad_credentials"),
    ("Unauthorized name", "bad_credentials"),
    ("Invalid RAKP4 integrity", "bad_credentials"),
    ("Unauthorized role", "bad_credentials"),
    ("Insufficient privilege", "bad_credentials"),
    ("Username too long", "bad_credentials"),
    ("Insufficient resources", "no_session_slot"),
    ("No Cipher suite match", "protocol"),
    ("Invalid command", "not_supported"),
    ("Command not supported in present state", "bad_power_state"),
    ("System did not accomplish", "timeout"),
    ("Unable to transmit", "unreachable"),
)
CODE_CAUSES = {CC_INVALID_COMMAND: "not_supported", CC_NOT_IN_STATE: "bad_power_state"}


def map_error(exc: BaseException, *, during_login: bool = False) -> BmcError:
    """Translate whatever pyghmi raised (or reported) into a `BmcError`."""
    if isinstance(exc, BmcError):
        return exc
    if isinstance(exc, OSError):  # DNS failures, unroutable addresses
        return BmcError("unreachable", f"The BMC address cannot be reached: {exc}.")
    if isinstance(exc, struct.error):  # a reply shorter than pyghmi expects
        return BmcError("protocol", f"Malformed reply from the BMC ({exc}).")
    message = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
    code = getattr(exc, "ipmicode", 0) or 0
    if code in CODE_CAUSES:
        return BmcError(CODE_CAUSES[code], _explain(CODE_CAUSES[code], message))
    for fragment, cause in MESSAGE_CAUSES:
        if fragment.lower() in message.lower():
            return BmcError(cause, _explain(cause, message))
    if message in ("timeout", "None", "Session no longer connected", "") or (
        "Session failed to initialize" in message
    ):
        cause = "unreachable" if during_login else "timeout"
        return BmcError(cause, _explain(cause, message))
    return BmcError("protocol", f"The BMC reported an error: {message}.")


def _explain(cause: str, detail: str) -> str:
    from apps.hardware.drivers.base import CAUSES

    text = CAUSES[cause][1]
    return f"{text} ({detail})" if detail and detail != "None" else text


def retransmits_within(budget: float) -> int:
    """How many sends of one request fit in ``budget`` seconds with pyghmi's back-off.

    pyghmi waits t0 (0.5-1.0 s), then t0+1, t0+2, ... between sends; n sends therefore take at
    most n + n(n-1)/2 seconds.
    """
    n = 1
    while (n + 1) + (n + 1) * n / 2 <= budget:
        n += 1
    return n


@dataclasses.dataclass
class _Cached:
    cmd: ipmi_command.Command
    password: str
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    @property
    def usable(self) -> bool:
        sess = self.cmd.ipmi_session
        return not sess.broken and bool(sess.logged)


_cache: dict[tuple[str, int, str], _Cached] = {}
_cache_lock = threading.Lock()
_housekeeper: threading.Thread | None = None


def _forget_after_fork() -> None:
    global _housekeeper, _cache_lock
    _cache.clear()
    _cache_lock = threading.Lock()
    _housekeeper = None


pyghmi_compat.on_fork(_forget_after_fork)


def _housekeeping_loop() -> None:
    while True:
        try:
            ipmi_session.Session.wait_for_rsp(timeout=1.0)
        except Exception:
            time.sleep(0.1)


def ensure_housekeeper() -> None:
    """Start the per-process thread that drives pyghmi's loop (keepalives, retransmits)."""
    global _housekeeper
    if _housekeeper is not None and _housekeeper.is_alive():
        return  # the common case, without contending for the lock on every poll
    with _cache_lock:
        if _housekeeper is None or not _housekeeper.is_alive():
            _housekeeper = threading.Thread(
                target=_housekeeping_loop, name="ipmi-housekeeper", daemon=True
            )
            _housekeeper.start()


def cached_sessions() -> int:
    """Number of live cached sessions in this process."""
    return sum(1 for entry in list(_cache.values()) if entry.usable)


def close_all() -> None:
    """Log out and forget every cached session of this process (shutdown, tests)."""
    with _cache_lock:
        entries = list(_cache.values())
        _cache.clear()
    for entry in entries:
        _discard(entry, logout=True)


def _discard(entry: _Cached, *, logout: bool) -> None:
    sess = entry.cmd.ipmi_session
    try:
        if logout and sess.logged and not sess.broken:
            sess.logout()
        elif not sess.broken:
            sess._mark_broken("discarded")
    except Exception:  # noqa: S110 - the session is being thrown away either way
        pass


def _login(endpoint: BmcEndpoint, timeout: float) -> ipmi_command.Command:
    if len(endpoint.username.encode()) > 16:
        raise BmcError("bad_credentials", "IPMI user names are at most 16 bytes.")
    done = threading.Event()
    outcome: dict = {}

    def onlogon(response, _cmd=None):
        outcome.update(response)
        done.set()

    try:
        # asynchronous login, so that the wait is ours to bound
        cmd = ipmi_command.Command(
            bmc=endpoint.host,
            userid=endpoint.username,
            password=endpoint.password,
            port=endpoint.port,
            onlogon=onlogon,
        )
    except Exception as exc:
        raise map_error(exc, during_login=True) from exc
    deadline = time.monotonic() + timeout
    while not done.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            cmd.ipmi_session._mark_broken("timeout")
            raise BmcError("unreachable", f"No answer from {endpoint} within {timeout:g} s.")
        ipmi_session.Session.wait_for_rsp(timeout=min(0.05, remaining))
    if "error" in outcome:
        raise map_error(pexc.IpmiException(outcome["error"]), during_login=True)
    sess = cmd.ipmi_session
    # bound every later command: n sends within the budget, no silent relogin (we rebuild)
    sess.maxtimeout = retransmits_within(timeout) + 0.25
    sess.logontries = 0
    return cmd


class IpmiDriver(BmcDriver):
    """`BmcDriver` for IPMI 2.0 / RMCP+ BMCs (see module docstring)."""

    def __init__(self, endpoint: BmcEndpoint, *, timeout: float = DEFAULT_TIMEOUT):
        if timeout <= 0:
            raise BmcError("bad_request", "timeout must be positive")
        self.endpoint = endpoint
        self.timeout = float(timeout)
        ensure_housekeeper()

    # --- sessions ----------------------------------------------------------------------

    def _session(self, budget: float) -> tuple[_Cached, bool]:
        """The cached session (reused=True) or a new one (reused=False)."""
        key = self.endpoint.key
        entry = _cache.get(key)
        if entry is not None and entry.usable and entry.password == self.endpoint.password:
            return entry, True
        if entry is not None:
            with _cache_lock:
                if _cache.get(key) is entry:
                    del _cache[key]
            _discard(entry, logout=False)
        cmd = _login(self.endpoint, budget)
        fresh = _Cached(cmd=cmd, password=self.endpoint.password)
        with _cache_lock:
            previous = _cache.get(key)
            if (
                previous is not None
                and previous.usable
                and previous.password == self.endpoint.password
            ):
                # another thread logged in meanwhile: keep one session per BMC
                _discard(fresh, logout=True)
                return previous, True
            _cache[key] = fresh
        if previous is not None and previous is not fresh:
            # logged in with other credentials (a password changed): never kept beside this one
            _discard(previous, logout=False)
        return fresh, False

    def _call(self, fn: Callable[[ipmi_command.Command], T], *, idempotent: bool = True) -> T:
        deadline = time.monotonic() + self.timeout
        for attempt in (1, 2):
            entry, reused = self._session(max(deadline - time.monotonic(), 1.0))
            try:
                with entry.lock:
                    return fn(entry.cmd)
            except BmcError:
                raise
            except Exception as exc:
                error = map_error(exc)
                if not entry.usable or error.cause in ("timeout", "unreachable"):
                    with _cache_lock:
                        if _cache.get(self.endpoint.key) is entry:
                            del _cache[self.endpoint.key]
                    _discard(entry, logout=False)
                    # a cached session may simply have idled out on the BMC: rebuild once
                    if reused and idempotent and attempt == 1:
                        continue
                raise error from exc
        raise AssertionError("unreachable code")  # pragma: no cover

    # --- the port ----------------------------------------------------------------------

    def power_state(self) -> PowerState:
        return PowerState(self._call(_read_power))

    def power(self, action: str) -> PowerResult:
        if action not in POWER_ACTIONS:
            raise BmcError("bad_request", f"Unknown power action {action!r}.")
        state = self._call(_read_power)
        if (action == "on" and state == "on") or (action in ("off", "soft") and state == "off"):
            return PowerResult(action=action, changed=False, state=state)  # type: ignore[arg-type]

        def control(cmd: ipmi_command.Command) -> None:
            # raw chassis control: pyghmi's set_power has no 'cycle' and re-reads the state
            rsp = cmd.raw_command(netfn=0, command=2, data=[CHASSIS_CONTROL[action]])
            if "error" in rsp:
                raise pexc.IpmiException(rsp["error"], rsp.get("code", 0))

        self._call(control, idempotent=False)
        return PowerResult(action=action, changed=True, state=None)  # type: ignore[arg-type]

    def boot_device(self) -> BootDevice:
        info = self._call(lambda cmd: cmd.get_bootdev())
        device = FROM_PYGHMI_BOOT.get(str(info.get("bootdev")), "default")
        return BootDevice(
            device=device,
            persistent=bool(info.get("persistent")) and device != "default",
            uefi=bool(info.get("uefimode")),
        )

    def set_boot_device(self, boot: BootDevice) -> BootDevice:
        if boot.device not in TO_PYGHMI_BOOT:
            raise BmcError("not_supported", f"IPMI has no boot device {boot.device!r}.")

        def apply(cmd: ipmi_command.Command) -> None:
            rsp = cmd.set_bootdev(
                TO_PYGHMI_BOOT[boot.device], persist=boot.persistent, uefiboot=boot.uefi
            )
            if isinstance(rsp, dict) and "error" in rsp:
                raise pexc.IpmiException(rsp["error"])

        self._call(apply)
        return boot

    def sensors(self) -> list[SensorReading]:
        readings = self._call(lambda cmd: list(cmd.get_sensor_data()))
        return [_sensor(r) for r in readings]

    def system_power_watts(self) -> float | None:
        try:
            return float(self._call(lambda cmd: cmd.get_system_power_watts()))
        except BmcError as error:
            if error.cause in ("not_supported", "protocol"):
                return None  # no DCMI on this BMC: the feature is unavailable, not an error
            raise

    def inventory(self) -> FruInventory:
        try:
            items = self._call(lambda cmd: dict(cmd.get_inventory()))
        except BmcError as error:
            if error.cause == "protocol":
                raise BmcError("not_supported", f"FRU inventory unavailable: {error}") from error
            raise
        system = items.get("System") or {}

        def field(*names: str) -> str:
            for name in names:
                value = system.get(name)
                if value not in (None, ""):
                    return str(value)
            return ""

        known = {
            "Manufacturer",
            "Board manufacturer",
            "Product name",
            "Board product name",
            "Serial Number",
            "Model",
            "Board model",
            "Board serial number",
            "Chassis serial number",
            "UUID",
        }
        extra = {
            k: str(v) for k, v in system.items() if k not in known and isinstance(v, str | int)
        }
        return FruInventory(
            manufacturer=field("Manufacturer", "Board manufacturer"),
            product=field("Product name", "Board product name"),
            serial=field("Serial Number", "Board serial number"),
            part_number=field("Model", "Board model"),
            board_serial=field("Board serial number"),
            chassis_serial=field("Chassis serial number"),
            uuid=field("UUID"),
            extra=extra,
        )

    def firmware(self) -> list[FirmwareVersion]:
        def read(cmd: ipmi_command.Command) -> list[FirmwareVersion]:
            data = bytes(cmd.xraw_command(netfn=6, command=1)["data"])
            # the minor revision is BCD: 0x07 is "07" (as ipmitool shows it), not pyghmi's "7"
            bmc = f"{data[2] & 0x7F}.{data[3]:02x}"
            versions = [
                FirmwareVersion(
                    component=str(name),
                    version=bmc if name == "BMC Version" else str(info.get("version", "")),
                )
                for name, info in cmd.get_firmware()
            ]
            if len(data) >= 15:
                aux = ".".join(str(b) for b in data[11:15])
                versions.append(FirmwareVersion(component="BMC auxiliary", version=aux))
            return versions

        return self._call(read)

    def bmc_log(self, limit: int = 100) -> list[LogEntry]:
        """The SEL (pyghmi walks Get SEL Entry from the first record), newest first. A record's
        time is its timestamp as seconds since 1970 UTC (as the BMC keeps it); a pre-init
        (uptime) timestamp is no known moment (None). The message is the standard tables'
        words for the sensor type and offset (a SEL record carries no text)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LOG_LIMIT:
            raise BmcError(
                "bad_request", f"A log limit is a whole number from 1 to {MAX_LOG_LIMIT}."
            )
        records = self._call(lambda cmd: list(cmd.get_event_log()))
        entries = [_log_entry(r) for r in records if isinstance(r, dict) and "record_id" in r]
        entries.sort(key=_log_order, reverse=True)
        return entries[:limit]

    def set_account_password(self, username: str, new_password: str) -> None:
        """Set User Password (20-byte form when longer than 16) on the slot whose Get User Name
        is ``username``; then the cached session logs out, so the next call logs in afresh."""
        if not isinstance(username, str) or not username:
            raise BmcError("bad_request", "Name the BMC account whose password is to change.")
        if (
            not isinstance(new_password, str)
            or not new_password
            or not new_password.isprintable()
            or len(new_password.encode()) > MAX_PASSWORD_BYTES
        ):
            raise BmcError(
                "bad_request",
                f"An IPMI password is 1 to {MAX_PASSWORD_BYTES} bytes of printable text.",
            )

        def apply(cmd: ipmi_command.Command) -> None:
            for uid in range(1, MAX_USER_SLOTS + 1):
                rsp = cmd.raw_command(netfn=6, command=0x46, data=(uid,))  # Get User Name
                if "error" in rsp:
                    break  # past the BMC's last user slot
                if bytes(rsp.get("data") or b"").rstrip(b"\x00") == username.encode():
                    cmd.set_user_password(uid, mode="set_password", password=new_password)
                    return
            raise BmcError("bad_request", f"The BMC has no user named {username!r}.")

        try:
            self._call(apply, idempotent=False)
        finally:
            with _cache_lock:
                entry = _cache.pop(self.endpoint.key, None)
            if entry is not None:
                _discard(entry, logout=True)

    def close(self) -> None:
        """Nothing to release: sessions are shared per process (see `close_all`)."""


def _read_power(cmd: ipmi_command.Command) -> str:
    return str(cmd.get_power()["powerstate"])


def _sensor(reading) -> SensorReading:
    units = str(reading.units or "")
    kind = UNIT_KIND.get(units, "other")
    if reading.value is None:
        health = "unknown"
    elif reading.health >= 2:  # pyghmi: 1 warning, 2 critical, 4 failed
        health = "critical"
    elif reading.health == 1:
        health = "warning"
    else:
        health = "ok"
    value = None if reading.value is None else round(float(reading.value), 3)
    return SensorReading(name=reading.name, kind=kind, value=value, unit=units, health=health)  # type: ignore[arg-type]


def _log_entry(record: dict) -> LogEntry:
    timecode = record.get("timecode")
    created = (
        datetime.datetime.fromtimestamp(timecode, datetime.UTC)
        if isinstance(timecode, int) and PRE_INIT <= timecode < 0xFFFFFFFF
        else None
    )
    event = str(record.get("event") or "").strip()
    detail = record.get("event_data")
    component = str(record.get("component") or "").strip()
    if component.startswith("Sensor "):  # pyghmi's stand-in for a sensor without an SDR name
        component = ""
    words = event + (f" ({detail})" if detail else "")
    if record.get("deassertion"):
        words += " (deasserted)"
    health = record.get("severity") or 0
    severity = "critical" if health >= 2 else "warning" if health == 1 else "ok"
    intrusion = not record.get("deassertion") and (
        "intrusion" in event.lower()
        or (record.get("component_type_id") == PHYSICAL_SECURITY
            and str(record.get("event_id", "")).endswith(".0"))
    )  # fmt: skip
    return LogEntry(
        id=str(record["record_id"]),
        created=created,
        severity=severity,
        message=f"{component}: {words}" if component and words else words or component,
        message_id=str(record.get("event_id") or ""),
        sensor_type=str(record.get("component_type") or ""),
        entry_type="SEL",
        log="SEL",
        intrusion=bool(intrusion),
    )


def _log_order(entry: LogEntry) -> tuple[float, int]:
    created = entry.created.timestamp() if entry.created else float("-inf")
    return (created, int(entry.id) if entry.id.isdigit() else -1)
