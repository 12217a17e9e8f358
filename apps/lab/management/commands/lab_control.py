"""``manage.py lab_control NODE ACTION [...]``: drive the running lab's TPM nodes.

Actions: ``plug-nic [--model nic-b] [--slot 3]``, ``unplug-nic [--slot 3]``,
``boot-order --order 2,1``, ``flash [--release 1.5.0]`` (the node's BMC then reports that
BIOS release too), ``tamper-log``, ``reboot``, ``reset`` (back to the node's configuration in
the database), ``list`` (NODE ignored); and for the node's BMC: ``intrusion``, ``fault --fault
NAME [--off]`` (any `apps.lab.bmc.node.Faults` switch, e.g. ``measures_differently``: the next
BIOS release applied boots with one measurement its prediction lacks), ``renew-cert``,
``reboot-bmc`` (`apps.lab.bmc.control`). Talks to
``run_lab`` over its loopback control socket (port from ``--port`` or the lab's control file).
"""

import json
import socket
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

ACTIONS = (
    "plug-nic",
    "unplug-nic",
    "boot-order",
    "flash",
    "tamper-log",
    "reboot",
    "reset",
    "list",
    # the node's BMC (apps.lab.bmc.control)
    "intrusion",
    "fault",
    "renew-cert",
    "reboot-bmc",
)


class Command(BaseCommand):
    help = "Change a lab TPM node (NIC, BootOrder, firmware, event log) in the running lab."

    def add_arguments(self, parser):
        parser.add_argument("node")
        parser.add_argument("action", choices=ACTIONS)
        parser.add_argument("--model", default="nic-b", help="NIC model for plug-nic")
        parser.add_argument("--slot", type=int, default=3, help="PCIe slot for plug/unplug")
        parser.add_argument("--order", default="2,1", help="BootOrder, e.g. 2,1")
        parser.add_argument("--release", dest="fw_version", default="1.5.0", help="for flash")
        parser.add_argument("--fault", help="for fault: a lab BMC fault switch, e.g. task_stuck")
        parser.add_argument("--off", action="store_true", help="for fault: clear the switch")
        parser.add_argument("--port", type=int, default=0, help="lab control port")
        parser.add_argument("--state-dir", default="var/lab/tpm", help="run_lab --tpm-state-dir")
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args, **o):
        port = o["port"] or _port_from(Path(o["state_dir"]))
        try:
            order = [int(n) for n in o["order"].split(",") if n.strip()]
        except ValueError:
            raise CommandError("--order must be comma-separated boot entry numbers") from None
        request = {
            "node": o["node"],
            "action": o["action"],
            "model": o["model"],
            "slot": o["slot"],
            "order": order,
            "version": o["fw_version"],
            "fault": o["fault"],
            "value": not o["off"],
        }
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=o["timeout"]) as conn:
                conn.sendall(json.dumps(request).encode() + b"\n")
                answer = json.loads(conn.makefile("rb").readline() or b"{}")
        except (OSError, ValueError) as exc:
            raise CommandError(f"lab control on 127.0.0.1:{port} unreachable: {exc}") from None
        if not answer.get("ok"):
            raise CommandError(answer.get("error", "the lab refused without a reason"))
        if o["action"] == "list":
            self.stdout.write("\n".join(answer.get("nodes", [])))
        elif "detail" in answer:
            self.stdout.write(f"{answer['node']}: {answer['action']} done, {answer['detail']}")
        else:
            self.stdout.write(
                f"{answer['node']}: {answer['action']} done, booted release {answer['release']}"
            )


def _port_from(state_dir: Path) -> int:
    try:
        return int(json.loads((state_dir / "control.json").read_text())["port"])
    except (OSError, ValueError, KeyError, TypeError):
        raise CommandError(
            f"no running lab found ({state_dir / 'control.json'} missing): start run_lab, "
            "or pass --port"
        ) from None
