"""The BMC port: what Heatsite asks of a baseboard management controller.

Plain dataclasses in and out, one error type (`BmcError`) that says what went wrong and whether
retrying can help. Adapters (``ipmi.py``, ``redfish.py``) are the only code that speaks a
protocol; nothing here imports Django.
"""

from __future__ import annotations

import abc
import dataclasses
import datetime
from typing import Literal, Union

Protocol = Literal["ipmi", "redfish"]
PowerStateName = Literal["on", "off"]
PowerActionName = Literal["on", "off", "soft", "reset", "cycle"]
SensorKind = Literal["temperature", "fan", "voltage", "power", "other"]
Health = Literal["ok", "warning", "critical", "unknown"]
TaskStateName = Literal["running", "completed", "failed", "gone"]

POWER_ACTIONS: tuple[str, ...] = ("on", "off", "soft", "reset", "cycle")
BOOT_DEVICES: tuple[str, ...] = (
    "default",
    "network",
    "http",
    "disk",
    "bios",
    "cdrom",
    "usb",
    "safe",
)

CAUSES: dict[str, tuple[bool, str]] = {
    # cause: (transient, what the engineer reads)
    "unreachable": (True, "The BMC does not answer on the network."),
    "bad_credentials": (False, "The BMC rejected the user name or password."),
    "no_session_slot": (True, "The BMC has no free session slot; retry when sessions expire."),
    "not_supported": (False, "The BMC does not support this command."),
    "bad_power_state": (False, "The BMC refused: not possible in the present power state."),
    "timeout": (True, "The BMC did not answer in time."),
    "protocol": (False, "The BMC answered with something Heatsite does not understand."),
    "bad_request": (False, "The request is not valid."),
    "certificate_unknown": (
        False,
        "The BMC's TLS certificate has not been accepted yet; accept its fingerprint first.",
    ),
    "certificate_changed": (
        False,
        "The BMC presented a TLS certificate other than the accepted one; nothing was sent.",
    ),
}


class BmcError(Exception):
    """A BMC operation failed; ``cause`` is one of `CAUSES`, ``transient`` says if a retry helps."""

    def __init__(self, cause: str, message: str | None = None, *, transient: bool | None = None):
        if cause not in CAUSES:
            raise ValueError(f"unknown BmcError cause {cause!r}")
        default_transient, default_message = CAUSES[cause]
        self.cause = cause
        self.transient = default_transient if transient is None else transient
        self.message = message or default_message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"BmcError({self.cause!r}, {self.message!r}, transient={self.transient})"


@dataclasses.dataclass(frozen=True)
class BmcEndpoint:
    """Where a BMC is and how to log in. ``site`` only groups endpoints for per-site limits."""

    host: str
    port: int = 623
    username: str = "admin"
    password: str = dataclasses.field(default="", repr=False)
    protocol: Protocol = "ipmi"
    site: str = ""
    tls_fingerprint: str = ""  # Redfish: SHA-256 of the accepted DER certificate, hex

    def __post_init__(self) -> None:
        if self.tls_fingerprint:
            object.__setattr__(self, "tls_fingerprint", normalize_fingerprint(self.tls_fingerprint))

    @property
    def key(self) -> tuple[str, int, str]:
        """Identity of the BMC account (one cached session per key per process)."""
        return (self.host, self.port, self.username)

    def __str__(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


def normalize_fingerprint(value: str) -> str:
    """``AB:CD:…`` or ``abcd…`` → 64 lower-case hex digits; anything else is a bad request."""
    text = value.replace(":", "").replace(" ", "").strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise BmcError("bad_request", "A TLS fingerprint is the SHA-256 of the certificate (hex).")
    return text


@dataclasses.dataclass(frozen=True)
class CertificateInfo:
    """The certificate a BMC presents, for the engineer to accept (or not) on first contact."""

    fingerprint: str  # SHA-256 of the DER certificate, 64 lower-case hex digits
    subject: str
    issuer: str
    not_before: datetime.datetime | None  # UTC
    not_after: datetime.datetime | None  # UTC


@dataclasses.dataclass(frozen=True)
class PowerState:
    """The chassis power state as the BMC reports it."""

    state: PowerStateName


@dataclasses.dataclass(frozen=True)
class PowerResult:
    """Outcome of a power action. ``changed`` is False when the node already was in that state."""

    action: PowerActionName
    changed: bool
    state: PowerStateName | None = None


@dataclasses.dataclass(frozen=True)
class BootDevice:
    """Boot override: ``device`` in `BOOT_DEVICES`, once or ``persistent``, legacy or ``uefi``."""

    device: str
    persistent: bool = False
    uefi: bool = False

    def __post_init__(self) -> None:
        if self.device not in BOOT_DEVICES:
            raise BmcError("bad_request", f"Unknown boot device {self.device!r}.")


@dataclasses.dataclass(frozen=True)
class SensorReading:
    """One sensor; ``value`` is None when the BMC has no reading (e.g. host sensors when off)."""

    name: str
    kind: SensorKind
    value: float | None
    unit: str
    health: Health


@dataclasses.dataclass(frozen=True)
class FruInventory:
    """Field-replaceable-unit data of the system board (empty strings where the BMC has none)."""

    manufacturer: str = ""
    product: str = ""
    serial: str = ""
    part_number: str = ""
    board_serial: str = ""
    chassis_serial: str = ""
    uuid: str = ""
    extra: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FirmwareVersion:
    """One firmware component and its version string."""

    component: str
    version: str


@dataclasses.dataclass(frozen=True)
class FirmwareComponent(FirmwareVersion):
    """A firmware component as Redfish describes it (``UpdateService/FirmwareInventory``).

    Still a `FirmwareVersion` (``component`` is the display name), so callers that only want
    name and version keep working. ``updateable`` is None when the BMC does not say.
    """

    id: str = ""
    updateable: bool | None = None
    related: tuple[str, ...] = ()  # what it applies to (Redfish paths of the related items)
    # Its own FirmwareInventory member path ("" unknown): an update's ``Targets``.
    uri: str = dataclasses.field(default="", compare=False)


BiosValue = Union[str, int, float, bool, None]  # noqa: UP007 (a runtime alias)


@dataclasses.dataclass(frozen=True)
class BiosAttribute:
    """One BIOS attribute and what the BMC's attribute registry says about it.

    ``display_name`` is the registry's name ("" where the BMC has no registry entry);
    ``type`` is the registry's (Enumeration, String, Integer, Boolean, Password) or "" unknown;
    ``allowed`` lists an enumeration's values (empty when unknown or not an enumeration);
    ``lower``/``upper`` bound an integer, ``min_length``/``max_length`` a string (None: unsaid).
    """

    name: str
    value: BiosValue
    display_name: str = ""
    type: str = ""
    read_only: bool = False
    allowed: tuple[str, ...] = ()
    lower: int | None = None
    upper: int | None = None
    min_length: int | None = None
    max_length: int | None = None


@dataclasses.dataclass(frozen=True)
class BiosSettings:
    """Current BIOS attributes and the changes pending for the next reset.

    ``pending`` holds only the attributes whose pending value differs from the current one
    (the diff an engineer confirms). ``registry`` is the BMC's ``AttributeRegistry`` id ("" when
    none); ``apply_times`` what the settings object supports (empty: the BMC does not say);
    ``applied_at`` when settings were last applied (UTC), None when unknown.
    """

    attributes: tuple[BiosAttribute, ...]
    pending: dict[str, BiosValue] = dataclasses.field(default_factory=dict)
    registry: str = ""
    apply_times: tuple[str, ...] = ()
    applied_at: datetime.datetime | None = None

    def value(self, name: str) -> BiosValue:
        return next((a.value for a in self.attributes if a.name == name), None)


@dataclasses.dataclass(frozen=True)
class LogEntry:
    """One entry of a BMC log (SEL, event log). ``created`` is aware UTC, None when unknown;
    ``severity`` is a `Health`; ``intrusion`` marks chassis-intrusion events."""

    id: str
    created: datetime.datetime | None
    severity: Health
    message: str
    message_id: str = ""
    sensor_type: str = ""
    entry_type: str = ""
    log: str = ""  # which log service it came from (its path)
    intrusion: bool = False


@dataclasses.dataclass(frozen=True)
class TaskRef:
    """Where to follow a BMC's long-running operation: its task monitor and its task resource
    (paths on the BMC; either may be "" when the BMC gave none). Plain strings: storable."""

    monitor: str = ""
    task: str = ""


@dataclasses.dataclass(frozen=True)
class TaskStatus:
    """What a BMC says of a task now. ``gone``: it no longer knows the task (completed and
    forgotten, or lost in a BMC reboot): decide by reading the versions back. ``completed``
    is the BMC's word only. ``retry_after`` is the BMC's hint (seconds) while running."""

    state: TaskStateName
    percent: int | None = None
    retry_after: float | None = None
    message: str = ""
    bmc_state: str = ""  # TaskState as the BMC said it
    bmc_status: str = ""  # TaskStatus (OK, Warning, Critical)


class BmcDriver(abc.ABC):
    """What Heatsite asks of a BMC. Every method raises only `BmcError`."""

    endpoint: BmcEndpoint

    @abc.abstractmethod
    def power_state(self) -> PowerState: ...

    @abc.abstractmethod
    def power(self, action: str) -> PowerResult:
        """Run ``action`` (on|off|soft|reset|cycle); a no-op when the node is already there."""

    @abc.abstractmethod
    def boot_device(self) -> BootDevice: ...

    @abc.abstractmethod
    def set_boot_device(self, boot: BootDevice) -> BootDevice: ...

    @abc.abstractmethod
    def sensors(self) -> list[SensorReading]: ...

    @abc.abstractmethod
    def system_power_watts(self) -> float | None:
        """Whole-system input power (DCMI); None when the BMC does not offer it."""

    @abc.abstractmethod
    def inventory(self) -> FruInventory: ...

    @abc.abstractmethod
    def firmware(self) -> list[FirmwareVersion]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    # --- what not every protocol has (IPMI has no standard for these) -----------------------

    def bios(self) -> BiosSettings:
        """Current BIOS attributes (with registry names) and pending settings."""
        raise BmcError("not_supported", f"{self._protocol_name()} has no standard BIOS settings.")

    def set_bios(self, changes: dict[str, BiosValue]) -> BiosSettings:
        """Stage ``changes`` for the next reset (validated first); the settings afterwards."""
        raise BmcError("not_supported", f"{self._protocol_name()} has no standard BIOS settings.")

    def bmc_log(self, limit: int = 100) -> list[LogEntry]:
        """The newest ``limit`` entries of the BMC's logs, newest first."""
        raise BmcError("not_supported", f"{self._protocol_name()} offers no BMC log here.")

    def set_account_password(self, username: str, new_password: str) -> None:
        """Set the password of the BMC account ``username`` (cached sessions are dropped)."""
        raise BmcError("not_supported", f"{self._protocol_name()} cannot set passwords here.")

    def firmware_update_push(
        self, image: bytes, targets: tuple[str, ...] = (), apply_time: str = "OnReset"
    ) -> TaskRef:
        """Send ``image`` to the BMC (applied at ``apply_time``); the task to follow."""
        raise BmcError("not_supported", f"{self._protocol_name()} has no standard update.")

    def firmware_update_simple(
        self, image_uri: str, targets: tuple[str, ...] = (), apply_time: str = "OnReset"
    ) -> TaskRef:
        """Ask the BMC to fetch the image at ``image_uri``; the task to follow."""
        raise BmcError("not_supported", f"{self._protocol_name()} has no standard update.")

    def task_status(self, ref: TaskRef) -> TaskStatus:
        raise BmcError("not_supported", f"{self._protocol_name()} has no tasks.")

    def _protocol_name(self) -> str:
        endpoint = getattr(self, "endpoint", None)
        return "IPMI" if endpoint is None or endpoint.protocol == "ipmi" else "This BMC"


def driver_for(endpoint: BmcEndpoint, **options: object) -> BmcDriver:
    """The adapter for ``endpoint.protocol``; options go to the adapter (e.g. ``timeout``)."""
    if endpoint.protocol == "ipmi":
        from apps.hardware.drivers.ipmi import IpmiDriver

        return IpmiDriver(endpoint, **options)  # type: ignore[arg-type]
    if endpoint.protocol == "redfish":
        from apps.hardware.drivers.redfish import RedfishDriver

        return RedfishDriver(endpoint, **options)  # type: ignore[arg-type]
    raise BmcError("bad_request", f"Unknown BMC protocol {endpoint.protocol!r}.")
