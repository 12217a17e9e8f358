"""``manage.py run_lab``: the demo's simulated world, built from the database.

One lab BMC per node (IPMI on its node's loopback UDP port, Redfish over HTTPS on TCP port
that + ``--redfish-offset``, 10000 by default; ``--no-redfish`` leaves it out), one Modbus heat
meter per site meter, and the physics that ties them: every couple of seconds each meter's
electrical load is set to the sum of its site's lab nodes' power draw, so powering a node off
lowers the site's heat.
Meters resume their energy registers from the console's record (``apps.lab.meters.resume``):
restarting the lab never makes a register go backwards.

TPM part (skip with ``--no-tpm``): one swtpm + node agent per demo node that has an attestation
configuration (first ``--tpm-nodes``, by id). Each boots from its firmware release and
configuration in the database, and its agent endpoint (port, TLS pin, token) is registered so
the verifier finds it. Each TPM node is tied to its node's lab BMC (`apps.lab.tpm.host`): the
BMC reports the release the TPM runs, and a host boot after a BIOS update measures the new
release. Lab controls (plug a NIC, change BootOrder, flash, tamper with the log) are served on a
loopback control socket; ``manage.py lab_control`` talks to it. State lives in
``--tpm-state-dir``, so TPM identities (and enrolments) survive a restart of the lab.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socketserver
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.lab.bmc import LabBmcServer
from apps.lab.bmc.cli import add_redfish_arguments, start_redfish
from apps.lab.bmc.control import BMC_ACTIONS, BmcControl
from apps.lab.meters import MeterFarm
from apps.lab.meters.resume import resume_registers
from apps.lab.meters.simulation import NODE_LOAD, node_load
from apps.sites.models import HeatMeter, Node

LOOPBACK = {"127.0.0.1", "localhost"}
TPM_NODES_MAX = 200
CONTROL_FILE = "control.json"


class LabControlError(ValueError):
    """A lab control request that cannot be carried out (unknown node, action or argument)."""


class TpmLab:
    """Lab TPM nodes for database nodes, their agents, and the controls tests and demos use."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.nodes: dict[str, Any] = {}  # name -> LabTpmNode
        self.reference: dict[str, tuple[Any, Any]] = {}  # name -> (release, configuration)
        self._server: socketserver.ThreadingTCPServer | None = None
        self.bmc_control: BmcControl | None = None  # BMC actions, when run_lab has BMCs
        self.hosts: dict[str, Any] = {}  # name -> HostLink (the node's BMC boots its TPM)

    @classmethod
    def from_db(cls, state_dir: Path, limit: int = TPM_NODES_MAX) -> TpmLab:
        """The first ``limit`` nodes (by id) that have an attestation configuration."""
        from apps.attestation.models import NodeConfiguration

        lab = cls(state_dir)
        configs = NodeConfiguration.objects.select_related(
            "node", "release", "release__profile"
        ).order_by("node_id")[:limit]
        for cfg in configs:
            lab.reference[cfg.node.name] = (cfg.release.to_release(), cfg.to_config())
        return lab

    def start(self, attempts: int = 5) -> None:
        """Start every node's swtpm (on free loopback port pairs), boot it, start its agent."""
        from apps.lab.tpm.node import LabTpmNode
        from apps.lab.tpm.swtpm import PortsInUse, SwtpmError, find_free_port_range

        names = sorted(self.reference)
        if not names:
            return
        # Below Linux's ephemeral range (32768+), where the agents' own listening ports land.
        top = max(20002, 32000 - 2 * len(names))
        for attempt in range(attempts):
            base = find_free_port_range(len(names), random.randrange(20000, top, 2))
            self.nodes = {
                name: LabTpmNode(name, self.state_dir / name, base + 2 * i, *self.reference[name])
                for i, name in enumerate(names)
            }
            try:
                with ThreadPoolExecutor(max_workers=8) as pool:
                    list(pool.map(lambda n: n.start(), self.nodes.values()))
                return
            except SwtpmError as exc:
                # Another process took a port between the check and swtpm's bind: elsewhere.
                self.stop()
                busy = isinstance(exc, PortsInUse) or "already in use" in str(exc)
                if not busy or attempt == attempts - 1:
                    raise

    def attach_hosts(self, bmcs: dict) -> list[str]:
        """Tie each TPM node to the lab BMC of the same name; -> names that could not be (no
        BMC, or a recorded release whose version is no BIOS version the BMC can report)."""
        from apps.lab.tpm.host import attach

        missed = []
        for name, node in self.nodes.items():
            try:
                self.hosts[name] = attach(bmcs[name], node)
            except (KeyError, ValueError):
                missed.append(name)
        return missed

    def register_endpoints(self) -> int:
        """Record each running agent in the database (port, TLS pin, encrypted token)."""
        from apps.attestation import services

        by_name = {n.name: n for n in Node.objects.filter(name__in=self.nodes)}
        for name, lab_node in self.nodes.items():
            services.endpoint_register(
                node=by_name[name],
                host="127.0.0.1",
                port=lab_node.agent_port,
                cert_fingerprint=lab_node.cert_fingerprint,
                token=lab_node.token,
            )
        return len(self.nodes)

    def control(self, request: dict) -> dict:
        """Carry out one control request: ``{"node", "action", optional arguments}``."""
        action = request.get("action")
        if action in BMC_ACTIONS and self.bmc_control is not None:
            return self.bmc_control.handle(request)
        if action == "list":
            return {"nodes": sorted(self.nodes)}
        node = self.nodes.get(str(request.get("node")))
        if node is None:
            raise LabControlError(f"no lab TPM node named {request.get('node')!r}")
        try:
            if action == "plug-nic":
                node.plug_nic(str(request.get("model", "nic-b")), int(request.get("slot", 3)))
            elif action == "unplug-nic":
                node.unplug_nic(int(request.get("slot", 3)))
            elif action == "boot-order":
                order = tuple(int(n) for n in request.get("order", [2, 1]))
                node.set_boot_order(order)
            elif action == "flash":
                version = str(request.get("version", "1.5.0"))
                if node.name in self.hosts:
                    self.hosts[node.name].bmc.set_bios_version(version)  # ValueError if bad
                node.flash(version)
            elif action == "tamper-log":
                node.tamper_log()
            elif action == "reboot":
                node.boot()
            elif action == "reset":
                node.release, node.config = self.reference[node.name]
                node.measures_differently = False
                node.boot()
                if node.name in self.hosts:
                    self.hosts[node.name].report()
            else:
                raise LabControlError(f"unknown lab control {action!r}")
        except (TypeError, ValueError) as exc:
            raise LabControlError(str(exc)) from None
        boot = node.last_boot
        return {"node": node.name, "action": action, "release": boot.release_version}

    def serve_control(self, port: int = 0) -> int:
        """Serve ``control`` as one JSON line in, one JSON line out, on 127.0.0.1; -> port."""
        lab = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                line = self.rfile.readline(64 * 1024)
                try:
                    answer = {"ok": True, **lab.control(json.loads(line))}
                except (LabControlError, ValueError, AttributeError) as exc:
                    answer = {"ok": False, "error": str(exc)}
                except Exception as exc:  # the lab keeps serving; the caller sees why
                    answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                self.wfile.write(json.dumps(answer).encode() + b"\n")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        bound = self._server.server_address[1]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / CONTROL_FILE).write_text(json.dumps({"port": bound}))
        return bound

    def stop(self) -> None:
        for link in self.hosts.values():
            link.detach()
        self.hosts.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda n: n.stop(), self.nodes.values()))


def bmc_configs(nodes: list[Node], load: float = NODE_LOAD) -> list[list[dict]]:
    """Groups nodes into runs of consecutive ports (one LabBmcServer per run), each node at
    its own load around ``load`` (nodes of a real site never run at exactly the same load)."""
    runs: list[list[dict]] = []
    previous = None
    for node in nodes:
        config = {
            "port": node.bmc_port,
            "name": node.name,
            "username": node.bmc_username or "admin",
            "password": node.bmc_password or "password",
            "nominal_power_w": node.nominal_power_w,
            "load": node_load(node.name, load),
        }
        if previous is None or node.bmc_port != previous + 1:
            runs.append([])
        runs[-1].append(config)
        previous = node.bmc_port
    return runs


class Command(BaseCommand):
    help = "Run lab BMCs and heat meters for every loopback node and meter in the database."

    def add_arguments(self, parser):
        parser.add_argument("--max-nodes", type=int, default=2000)
        parser.add_argument("--load", type=float, default=NODE_LOAD, help="node load 0-1")
        parser.add_argument("--run-for", type=float, default=0, help="seconds, 0 = until stopped")
        parser.add_argument("--sync-every", type=float, default=2.0)
        parser.add_argument("--no-tpm", action="store_true", help="no swtpm nodes and agents")
        parser.add_argument("--tpm-nodes", type=int, default=TPM_NODES_MAX)
        parser.add_argument("--tpm-state-dir", default="var/lab/tpm")
        parser.add_argument("--control-port", type=int, default=0, help="0 = any free port")
        add_redfish_arguments(parser)

    def handle(self, *args, max_nodes, load, run_for, sync_every, **options):
        nodes = list(
            # every protocol: a Redfish-only node's lab BMC still has its IPMI port as identity
            Node.objects.filter(bmc_host__in=LOOPBACK)
            .select_related("site")
            .order_by("bmc_port")[: max_nodes + 1]
        )
        if len(nodes) > max_nodes:
            raise CommandError(
                f"More than {max_nodes} loopback nodes: the lab is for demos, not 10,000 sites "
                "(raise --max-nodes if you mean it)."
            )
        meters = list(
            HeatMeter.objects.filter(host__in=LOOPBACK, removed_at__isnull=True).select_related(
                "site"
            )
        )
        servers = []
        for run in bmc_configs(nodes, load):
            servers.append(LabBmcServer(base_port=run[0]["port"], configs=run).start())
        redfish = None
        if nodes:
            try:
                redfish = start_redfish(
                    [bmc for server in servers for bmc in server.bmcs],
                    argparse.Namespace(**options),
                )
            except (OSError, ValueError) as exc:
                for server in servers:
                    server.stop()
                raise CommandError(f"lab Redfish faces failed to start: {exc}") from None
        bmcs_by_site: dict[int, list] = defaultdict(list)
        bmc_by_name = {bmc.name: bmc for server in servers for bmc in server.bmcs}
        for node in nodes:
            bmcs_by_site[node.site_id].append(bmc_by_name[node.name])
        farm = MeterFarm()
        # Meters never reset: each resumes where the console last read (or seeded) it.
        registers = resume_registers([m.id for m in meters], now=farm.clock.now())
        lab_meters = {}
        for meter in meters:
            lab_meters[meter.site_id] = farm.add(
                meter.serial,
                port=meter.port,
                unit_id=meter.unit_id,
                model=meter.model,
                nominal_kw=float(meter.site.nominal_capacity_kw) or 10.0,
                timezone=meter.site.timezone,
                initial_energy_kwh=registers.get(meter.id, 0.0),
            )
        self.stdout.write(
            f"lab: {len(nodes)} BMCs on UDP 127.0.0.1 ({len(servers)} port range(s)), "
            f"{len(meters)} heat meters on TCP 127.0.0.1"
        )
        if redfish is not None:
            self.stdout.write(
                f"lab: Redfish on HTTPS 127.0.0.1, port = IPMI port + {options['redfish_offset']} "
                f"(certificates in {options['redfish_state_dir']})"
            )
        tpm_lab = None
        if not options.get("no_tpm"):
            tpm_lab = self._start_tpm(options)
            tpm_lab.bmc_control = BmcControl(bmc_by_name, redfish)
            missed = tpm_lab.attach_hosts(bmc_by_name)
            if missed:
                self.stdout.write(
                    f"lab: {len(missed)} TPM node(s) not tied to a BMC (no lab BMC, or a "
                    f"release that is no BIOS version): {', '.join(missed[:5])}"
                )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        waited = 0.0
        try:
            while not stop.is_set():
                for site_id, lab_meter in lab_meters.items():
                    watts = sum(bmc.system_power_w() for bmc in bmcs_by_site.get(site_id, []))
                    lab_meter.sim.set_load(watts / 1000)
                stop.wait(sync_every)
                waited += sync_every
                if run_for and waited >= run_for:
                    break
        finally:
            farm.close()
            if redfish is not None:
                redfish.stop()
            for server in servers:
                server.stop()
            if tpm_lab is not None:
                tpm_lab.stop()

    def _start_tpm(self, options) -> TpmLab:
        count = options.get("tpm_nodes", TPM_NODES_MAX)
        if not 0 <= count <= 1000:
            raise CommandError("--tpm-nodes must be between 0 and 1000")
        lab = TpmLab.from_db(Path(options.get("tpm_state_dir", "var/lab/tpm")), count)
        try:
            lab.start()
        except (OSError, RuntimeError) as exc:
            lab.stop()
            raise CommandError(f"lab TPMs failed to start: {exc}") from None
        lab.register_endpoints()
        port = lab.serve_control(options.get("control_port", 0))
        self.stdout.write(
            f"lab: {len(lab.nodes)} TPM nodes (swtpm + agent), endpoints registered; "
            f"controls on 127.0.0.1:{port} (manage.py lab_control)"
        )
        return lab
