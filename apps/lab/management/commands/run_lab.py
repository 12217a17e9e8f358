"""``manage.py run_lab``: the demo's simulated world, built from the database.

One lab BMC per node (IPMI on its node's loopback port), one Modbus heat meter per site meter,
and the physics that ties them: every couple of seconds each meter's electrical load is set to
the sum of its site's lab nodes' power draw, so powering a node off lowers the site's heat.
"""

from __future__ import annotations

import signal
import threading
import zlib
from collections import defaultdict

from django.core.management.base import BaseCommand, CommandError

from apps.lab.bmc import LabBmcServer
from apps.lab.meters import MeterFarm
from apps.sites.models import HeatMeter, Node

LOOPBACK = {"127.0.0.1", "localhost"}


def bmc_configs(nodes: list[Node]) -> list[list[dict]]:
    """Groups nodes into runs of consecutive ports (one LabBmcServer per run)."""
    runs: list[list[dict]] = []
    previous = None
    for node in nodes:
        config = {
            "port": node.bmc_port,
            "name": node.name,
            "username": node.bmc_username or "admin",
            "password": node.bmc_password or "password",
            "nominal_power_w": node.nominal_power_w,
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
        parser.add_argument("--load", type=float, default=0.7, help="node load 0-1")
        parser.add_argument("--run-for", type=float, default=0, help="seconds, 0 = until stopped")
        parser.add_argument("--sync-every", type=float, default=2.0)

    def handle(self, *args, max_nodes, load, run_for, sync_every, **options):
        nodes = list(
            Node.objects.filter(bmc_host__in=LOOPBACK, bmc_protocol="ipmi")
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
        for run in bmc_configs(nodes):
            for config in run:
                # Nodes of a real site never run at exactly the same load.
                config["load"] = min(
                    1.0, max(0.1, load + (zlib.crc32(config["name"].encode()) % 41 - 20) / 100)
                )
            servers.append(LabBmcServer(base_port=run[0]["port"], configs=run).start())
        bmcs_by_site: dict[int, list] = defaultdict(list)
        bmc_by_name = {bmc.name: bmc for server in servers for bmc in server.bmcs}
        for node in nodes:
            bmcs_by_site[node.site_id].append(bmc_by_name[node.name])
        farm = MeterFarm()
        lab_meters = {}
        for meter in meters:
            lab_meters[meter.site_id] = farm.add(
                meter.serial,
                port=meter.port,
                unit_id=meter.unit_id,
                model=meter.model,
                nominal_kw=float(meter.site.nominal_capacity_kw) or 10.0,
                timezone=meter.site.timezone,
            )
        self.stdout.write(
            f"lab: {len(nodes)} BMCs on UDP 127.0.0.1 ({len(servers)} port range(s)), "
            f"{len(meters)} heat meters on TCP 127.0.0.1"
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
            for server in servers:
                server.stop()
