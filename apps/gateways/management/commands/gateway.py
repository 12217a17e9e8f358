"""Site gateways from the command line: ``gateway enrol|revoke|list`` (audited as the system).

``enrol NAME --site CODE [--site CODE] --out DIR`` writes the new gateway's key file (0600) and
config file into DIR, to be copied to the gateway; the private key is not kept anywhere else.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.gateways import services
from apps.gateways.models import Gateway
from apps.sites.models import Site


class Command(BaseCommand):
    help = "Enrols, revokes or lists site gateways."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        enrol = sub.add_parser("enrol", help="a new gateway for one or more sites")
        enrol.add_argument("name")
        enrol.add_argument("--site", action="append", required=True, metavar="CODE")
        enrol.add_argument("--out", required=True, help="directory for NAME.key and NAME.toml")
        enrol.add_argument("--key-path", help="where the key file will be on the gateway")
        enrol.add_argument("--state-dir", default="/var/lib/heatsite-gateway")
        revoke = sub.add_parser("revoke", help="refuse a gateway from now on")
        revoke.add_argument("name")
        sub.add_parser("list", help="the gateways, their sites and last contact")

    def handle(self, *args, verb, **options):
        getattr(self, f"_{verb}")(**options)

    def _enrol(self, *, name, site, out, key_path, state_dir, **_):
        sites = list(Site.objects.filter(code__in=site))
        unknown = sorted(set(site) - {s.code for s in sites})
        if unknown:
            raise CommandError(f"No site with code {', '.join(unknown)}.")
        out_dir = Path(out)
        key_file, config_file = out_dir / f"{name}.key", out_dir / f"{name}.toml"
        if key_file.exists() or config_file.exists():
            raise CommandError(f"{key_file} or {config_file} exists already; nothing was done.")
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            enrolment = services.gateway_enrol(
                actor=None,
                name=name,
                sites=sites,
                key_path=key_path or f"/etc/heatsite-gateway/{name}.key",
                state_dir=state_dir,
            )
        except services.GatewayError as error:
            raise CommandError(str(error)) from None
        for path, text in ((key_file, enrolment.private_keys), (config_file, enrolment.config)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(text)
        self.stdout.write(
            f"Gateway {name} enrolled for {', '.join(sorted(site))}: copy {key_file} and "
            f"{config_file} to it, then run `manage.py run_gateway --config {config_file.name}`."
        )

    def _revoke(self, *, name, **_):
        gateway = Gateway.objects.filter(name=name).first()
        if gateway is None:
            raise CommandError(f"No gateway named {name!r}.")
        services.gateway_revoke(actor=None, gateway=gateway)
        self.stdout.write(f"Gateway {name} revoked; its sites are reached directly again.")

    def _list(self, **_):
        for gateway in Gateway.objects.prefetch_related("site_links__site"):
            sites = ",".join(link.site.code for link in gateway.site_links.all()) or "-"
            contact = gateway.last_contact_at.isoformat() if gateway.last_contact_at else "never"
            self.stdout.write(
                f"{gateway.name}\t{gateway.status}\t{sites}\tlast contact {contact}\t"
                f"{gateway.version or '-'}"
            )
