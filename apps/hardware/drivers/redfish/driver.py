"""The Redfish adapter: `BmcDriver` over sushy's connector (transport in `transport`).

sushy logs in, keeps the session, re-logs in on 401, retries and parses error bodies; the
resources themselves are read as plain JSON (`readings`), because sushy models neither
``EnvironmentMetrics``, ``Sensors`` nor ``ThermalSubsystem`` and its typed resources fail on one
missing required property, where a BMC's gaps should only make a feature unavailable.

Power actions use the reset types the BMC advertises (``ResetType@Redfish.AllowableValues`` or
the action's ``@Redfish.ActionInfo``) and then wait, bounded, until the state is reached (BMCs
apply them asynchronously). Like IPMI, asking for the present state sends nothing; reset and
cycle of a node that is off are refused (``bad_power_state``) without sending anything, which is
what an IPMI BMC answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from apps.hardware.drivers.base import (
    POWER_ACTIONS,
    BiosSettings,
    BiosValue,
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
    TaskRef,
    TaskStatus,
)
from apps.hardware.drivers.redfish import accounts, bios, logs, readings, update
from apps.hardware.drivers.redfish.transport import (
    DEFAULT_TIMEOUT,
    Client,
    client_for,
    forget,
    map_error,
)

T = TypeVar("T")

DEFAULT_ACTION_WAIT = 30.0
POLL_INTERVAL = 0.25
FRESH_SECONDS = 2.0  # how long after `sensors` its readings still count as the same poll
RESET_TYPES = {
    # port action → reset types to use, by preference
    "on": ("On", "ForceOn", "PushPowerButton"),
    "off": ("ForceOff",),
    "soft": ("GracefulShutdown",),
    "reset": ("ForceRestart", "GracefulRestart", "PowerCycle"),
    "cycle": ("PowerCycle",),
}
TARGET_STATE = {"on": "on", "off": "off", "soft": "off", "reset": "on", "cycle": "on"}
TO_REDFISH_BOOT = {
    "default": "None",
    "network": "Pxe",
    "http": "UefiHttp",
    "disk": "Hdd",
    "bios": "BiosSetup",
    "cdrom": "Cd",
    "usb": "Usb",
}
FROM_REDFISH_BOOT = {v: k for k, v in TO_REDFISH_BOOT.items()} | {"Floppy": "usb"}
FORGET_ON = ("unreachable", "timeout", "certificate_changed", "bad_credentials")


class RedfishDriver(BmcDriver):
    """`BmcDriver` for Redfish BMCs over HTTPS with a pinned certificate (see module docstring)."""

    def __init__(
        self,
        endpoint: BmcEndpoint,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        action_wait: float = DEFAULT_ACTION_WAIT,
    ):
        if timeout <= 0 or action_wait < 0:
            raise BmcError("bad_request", "timeout must be positive")
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self.action_wait = float(action_wait)
        # the Sensor readings of the last `sensors` call, for the `system_power_watts` after it
        self._fresh: tuple[float, dict[str, float | None]] | None = None

    # --- plumbing ----------------------------------------------------------------------

    def _call(self, fn: Callable[[Client], T], *, idempotent: bool = True) -> T:
        for attempt in (1, 2):
            client, reused = client_for(self.endpoint, self.timeout)
            try:
                with client.lock:
                    # A cached client was logged in with its first caller's timeout: each call
                    # waits as long as its own driver says.
                    client.connector._default_request_timeout = self.timeout
                    client.connector._connect_timeout = self.timeout
                    return fn(client)
            except Exception as exc:
                error = map_error(exc)
                if error.cause in FORGET_ON:
                    forget(self.endpoint, client)
                    # a kept-alive connection the BMC dropped: one fresh try for reads
                    if reused and idempotent and attempt == 1 and error.cause == "unreachable":
                        continue
                raise error from exc
        raise AssertionError("unreachable code")  # pragma: no cover

    # --- the port ----------------------------------------------------------------------

    def power_state(self) -> PowerState:
        return PowerState(self._call(lambda c: readings.power_state(readings.system(c))))

    def power(self, action: str) -> PowerResult:
        if action not in POWER_ACTIONS:
            raise BmcError("bad_request", f"Unknown power action {action!r}.")
        system = self._call(readings.system)
        state = readings.power_state(system)
        if (action == "on" and state == "on") or (action in ("off", "soft") and state == "off"):
            return PowerResult(action=action, changed=False, state=state)  # type: ignore[arg-type]
        if action in ("reset", "cycle") and state == "off":
            raise BmcError("bad_power_state", f"{_cause_text('bad_power_state')} (the node is off)")
        target, allowed = self._call(lambda c: readings.reset_action(c, system))
        chosen = _pick(RESET_TYPES[action], allowed)
        if chosen is None and action == "cycle" and _allows(allowed, "ForceOff", "On"):
            self._reset(target, "ForceOff")
            if self._wait_for("off") != "off":
                return PowerResult(action=action, changed=True, state=None)  # type: ignore[arg-type]
            self._reset(target, "On")
        elif chosen is None:
            raise BmcError(
                "not_supported",
                f"{_cause_text('not_supported')} (no reset type for {action!r}; "
                f"the BMC offers {', '.join(allowed or []) or 'none'})",
            )
        else:
            self._reset(target, chosen)
        reached = self._wait_for(TARGET_STATE[action])
        return PowerResult(action=action, changed=True, state=reached)  # type: ignore[arg-type]

    def _reset(self, target: str, reset_type: str) -> None:
        self._call(
            lambda c: c.connector.post(target, data={"ResetType": reset_type}), idempotent=False
        )

    def _wait_for(self, wanted: str) -> str | None:
        """Poll until the power state is ``wanted``; None when the wait ran out (unknown)."""
        deadline = time.monotonic() + self.action_wait
        while True:
            state = self._call(lambda c: readings.power_state(readings.system(c)))
            if state == wanted:
                return state
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_INTERVAL)

    def boot_device(self) -> BootDevice:
        boot = self._call(readings.system).get("Boot") or {}
        enabled = boot.get("BootSourceOverrideEnabled")
        target = boot.get("BootSourceOverrideTarget")
        device = "default" if enabled == "Disabled" else FROM_REDFISH_BOOT.get(str(target))
        if device is None:
            raise BmcError(
                "not_supported", f"The BMC's boot override {target!r} has no Heatsite name."
            )
        return BootDevice(
            device=device,
            persistent=enabled == "Continuous" and device != "default",
            uefi=boot.get("BootSourceOverrideMode") == "UEFI",
        )

    def set_boot_device(self, boot: BootDevice) -> BootDevice:
        if boot.device not in TO_REDFISH_BOOT:
            raise BmcError("not_supported", f"Redfish has no boot device {boot.device!r}.")

        def apply(client: Client) -> None:
            system = readings.system(client)
            current = system.get("Boot") or {}
            target = TO_REDFISH_BOOT[boot.device]
            allowed = current.get("BootSourceOverrideTarget@Redfish.AllowableValues")
            if allowed and target != "None" and target not in allowed:
                raise BmcError(
                    "not_supported",
                    f"{_cause_text('not_supported')} (boot from {target}; "
                    f"the BMC offers {', '.join(allowed)})",
                )
            patch: dict[str, Any] = {
                "BootSourceOverrideTarget": target,
                "BootSourceOverrideEnabled": (
                    "Disabled"
                    if boot.device == "default"
                    else ("Continuous" if boot.persistent else "Once")
                ),
            }
            if "BootSourceOverrideMode" in current and boot.device != "default":
                patch["BootSourceOverrideMode"] = "UEFI" if boot.uefi else "Legacy"
            client.connector.patch(system["@odata.id"], data={"Boot": patch})

        self._call(apply, idempotent=False)
        return boot

    def sensors(self) -> list[SensorReading]:
        sources: dict[str, float | None] = {}
        found = self._call(lambda c: readings.sensors(c, sources))
        self._fresh = (time.monotonic(), sources)
        return found

    def system_power_watts(self) -> float | None:
        """The system's power; right after `sensors` (one poll), from the Sensor just read."""
        fresh, self._fresh = self._fresh, None
        sources = fresh[1] if fresh and time.monotonic() - fresh[0] < FRESH_SECONDS else None
        return self._call(lambda c: readings.power_watts(c, sources))

    def inventory(self) -> FruInventory:
        return self._call(readings.inventory)

    def firmware(self) -> list[FirmwareVersion]:
        return self._call(readings.firmware)

    def bios(self) -> BiosSettings:
        return self._call(bios.read)

    def set_bios(self, changes: dict[str, BiosValue]) -> BiosSettings:
        self._call(lambda c: bios.apply(c, changes), idempotent=False)
        return self.bios()

    def bmc_log(self, limit: int = 100) -> list[LogEntry]:
        limit = logs.check_limit(limit)
        return self._call(lambda c: logs.entries(c, limit))

    def set_account_password(self, username: str, new_password: str) -> None:
        """Set the password; then the cached client logs out and is dropped, so that the next
        call logs in afresh (with whichever password its endpoint carries)."""
        accounts.check_password(username, new_password)
        try:
            self._call(lambda c: accounts.set_password(c, username, new_password), idempotent=False)
        finally:
            forget(self.endpoint)

    def firmware_update_push(
        self, image: bytes, targets: tuple[str, ...] = (), apply_time: str = "OnReset"
    ) -> TaskRef:
        chosen = update.check(targets, apply_time)
        return self._call(
            lambda c: update.push(c, image, chosen, apply_time, self.timeout), idempotent=False
        )

    def firmware_update_simple(
        self, image_uri: str, targets: tuple[str, ...] = (), apply_time: str = "OnReset"
    ) -> TaskRef:
        chosen = update.check(targets, apply_time)
        return self._call(
            lambda c: update.simple(c, image_uri, chosen, apply_time), idempotent=False
        )

    def task_status(self, ref: TaskRef) -> TaskStatus:
        if not isinstance(ref, TaskRef):
            raise BmcError("bad_request", "A task is followed by its TaskRef.")
        return self._call(lambda c: update.status(c, ref))

    def close(self) -> None:
        """Nothing to release: clients are shared per process (see `transport.close_all`)."""


def _pick(preferred: tuple[str, ...], allowed: list[str] | None) -> str | None:
    if allowed is None:  # the BMC does not say: the first choice is the standard's
        return preferred[0]
    return next((kind for kind in preferred if kind in allowed), None)


def _allows(allowed: list[str] | None, *kinds: str) -> bool:
    return allowed is None or all(kind in allowed for kind in kinds)


def _cause_text(cause: str) -> str:
    from apps.hardware.drivers.base import CAUSES

    return CAUSES[cause][1]
