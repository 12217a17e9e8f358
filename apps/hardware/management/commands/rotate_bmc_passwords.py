"""Rotate the BMC account password of one node, one site's nodes, or every node with a BMC.

Each node gets its own random password, set on the BMC, verified by logging in with it and only
then stored (`apps.hardware.rotation`); nodes are done one after the other. A node whose
rotation was interrupted (a killed run) is resumed. Audited as the system; never prints a
password. Exits non-zero when any node failed or was busy.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from apps.hardware.rotation import RotationBusy, bmc_password_rotate
from apps.sites.models import Node, Site


class Command(BaseCommand):
    help = "Rotates BMC account passwords: a new random one per node, verified before stored."

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--site", metavar="CODE", help="only this site's nodes")
        which.add_argument("--node", metavar="NAME", help="only this node")

    def handle(self, *args, site=None, node=None, **options):
        nodes = self._nodes(site, node)
        if not nodes:
            self.stdout.write("No node with a BMC address to rotate.")
            return
        failed = 0
        for each in nodes:
            try:
                result = bmc_password_rotate(node=each, actor=None)
            except RotationBusy as busy:
                failed += 1
                self.stdout.write(f"{each.name}: busy — {busy}")
                continue
            if result.ok:
                self.stdout.write(f"{each.name}: {result.outcome} — {result.message}")
            else:
                failed += 1
                self.stdout.write(f"{each.name}: FAILED — {result.message}")
        done = len(nodes) - failed
        if failed:
            raise CommandError(
                f"{failed} of {len(nodes)} node(s) not rotated; {done} rotated. The failed ones "
                "keep their stored password and are flagged on their node page."
            )
        self.stdout.write(f"{done} BMC password(s) rotated.")

    def _nodes(self, site_code: str | None, node_name: str | None) -> list[Node]:
        nodes = Node.objects.select_related("site").order_by("site__code", "name")
        if node_name is not None:
            found = list(nodes.filter(name=node_name))
            if not found:
                raise CommandError(f"No node named {node_name!r}.")
            return found
        if site_code is not None:
            site = Site.objects.filter(code=site_code).first()
            if site is None:
                raise CommandError(f"No site with code {site_code!r}.")
            nodes = nodes.filter(site=site)
        return list(nodes.exclude(bmc_host=""))
