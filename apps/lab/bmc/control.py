"""Lab controls for the BMCs (``manage.py lab_control NODE ACTION``, served by ``run_lab``).

Actions: ``intrusion`` (the chassis cover is opened: a SEL entry), ``fault`` (set or clear one
`Faults` switch by name), ``renew-cert`` (the Redfish face gets a new certificate),
``reboot-bmc`` (the Redfish face forgets its tasks, staged images and sessions).
"""

from __future__ import annotations

import dataclasses

from apps.lab.bmc.node import Faults

BMC_ACTIONS = ("intrusion", "fault", "renew-cert", "reboot-bmc")
SWITCHES = tuple(f.name for f in dataclasses.fields(Faults) if f.type in ("bool", bool))


class BmcControlError(ValueError):
    """A BMC control request that cannot be carried out."""


class BmcControl:
    """Carries out BMC controls on the running lab's BMCs (by node name)."""

    def __init__(self, bmcs: dict, redfish=None):
        self.bmcs = bmcs
        self.redfish = redfish
        self._index = {}
        if redfish is not None:
            self._index = {bmc.name: i for i, bmc in enumerate(redfish.bmcs)}

    def handle(self, request: dict) -> dict:
        name = str(request.get("node"))
        bmc = self.bmcs.get(name)
        if bmc is None:
            raise BmcControlError(f"no lab BMC named {name!r}")
        action = request.get("action")
        if action == "intrusion":
            event = bmc.raise_intrusion()
            detail = f"SEL entry {event['id']}"
        elif action == "fault":
            switch = request.get("fault")
            if switch not in SWITCHES:
                raise BmcControlError(f"unknown fault {switch!r}; one of {', '.join(SWITCHES)}")
            value = bool(request.get("value", True))
            setattr(bmc.faults, switch, value)
            detail = f"{switch} {'on' if value else 'off'}"
        elif action in ("renew-cert", "reboot-bmc"):
            if name not in self._index:
                raise BmcControlError(f"{name} has no Redfish face (run_lab --no-redfish?)")
            if action == "renew-cert":
                detail = "certificate sha256 " + self.redfish.renew_certificate(self._index[name])
            else:
                self.redfish.reboot_bmc(self._index[name])
                detail = "Redfish tasks, staged images and sessions forgotten"
        else:
            raise BmcControlError(f"unknown BMC control {action!r}")
        return {"node": name, "action": action, "detail": detail}
