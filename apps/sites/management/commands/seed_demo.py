"""Seed a plausible demo fleet and demo users; prints `username role password` per user, with the
base32 TOTP secret as a fourth field for staff (enrolled here), then `# otpauth <URI>` lines.

The fleet is mixed, as real ones are: sites in turn have IPMI-only BMCs, Redfish-only BMCs and
BMCs that speak both (protocol ``auto``), each BMC's Redfish port at its IPMI port +
``--redfish-offset`` (the lab's layout). Redfish certificates are not accepted here: that is an
engineer's act (or, for the demo's lab, ``manage.py lab_accept_certificates``).
"""

import random
from datetime import UTC, datetime
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts.models import Role, User
from apps.core import crypto
from apps.identity import factors
from apps.sites.models import HeatMeter, Node, Organisation, Site

TOWNS = [
    ("Paris", "Île-de-France", 48.8566, 2.3522, "Europe/Paris"),
    ("Lyon", "Auvergne-Rhône-Alpes", 45.7640, 4.8357, "Europe/Paris"),
    ("Grenoble", "Auvergne-Rhône-Alpes", 45.1885, 5.7245, "Europe/Paris"),
    ("Strasbourg", "Grand Est", 48.5734, 7.7521, "Europe/Paris"),
    ("Lille", "Hauts-de-France", 50.6292, 3.0573, "Europe/Paris"),
    ("Nantes", "Pays de la Loire", 47.2184, -1.5536, "Europe/Paris"),
    ("Bordeaux", "Nouvelle-Aquitaine", 44.8378, -0.5792, "Europe/Paris"),
    ("Toulouse", "Occitanie", 43.6047, 1.4442, "Europe/Paris"),
    ("Rennes", "Bretagne", 48.1173, -1.6778, "Europe/Paris"),
    ("Dijon", "Bourgogne-Franche-Comté", 47.3220, 5.0415, "Europe/Paris"),
    ("Brussels", "Brussels", 50.8503, 4.3517, "Europe/Brussels"),
    ("Geneva", "Geneva", 46.2044, 6.1432, "Europe/Zurich"),
    ("Amsterdam", "North Holland", 52.3676, 4.9041, "Europe/Amsterdam"),
    ("Helsinki", "Uusimaa", 60.1699, 24.9384, "Europe/Helsinki"),
    ("Stockholm", "Stockholm", 59.3293, 18.0686, "Europe/Stockholm"),
    ("Copenhagen", "Capital Region", 55.6761, 12.5683, "Europe/Copenhagen"),
]
KINDS = ["Résidence", "Piscine", "Sous-station", "Lycée", "Hôpital", "Gymnase"]
PARTNERS = [
    ("Réseau Chaleur Urbaine", "RCU"),
    ("Eau Chaude Nord", "ECN"),
    ("Thermo Alpes", "TAL"),
    ("Stadtwärme Ost", "SWO"),
    ("Kaukolämpö Oy", "KLO"),
]
MODELS = ["HS-CP2 (2U cold-plate)", "HS-CP1 (1U cold-plate)"]
# BMC protocol of each site's nodes, by site index: one site in three of each.
PROTOCOLS = [Node.BmcProtocol.IPMI, Node.BmcProtocol.REDFISH, Node.BmcProtocol.AUTO]
DEMO_PASSWORD = "heatsite-demo"  # noqa: S105 - printed to the newcomer on purpose


class Command(BaseCommand):
    help = "Creates a demo fleet and demo users (idempotent: existing sites are kept)."

    def add_arguments(self, parser):
        parser.add_argument("--sites", type=int, default=12)
        parser.add_argument("--nodes-per-site", type=int, default=8)
        parser.add_argument("--partners", type=int, default=3)
        parser.add_argument("--bmc-base-port", type=int, default=16230)
        parser.add_argument("--meter-base-port", type=int, default=15020)
        parser.add_argument("--bmc-host", default="127.0.0.1")
        parser.add_argument(
            "--redfish-offset",
            type=int,
            default=10000,
            help="Redfish HTTPS port = IPMI port + this (the lab's layout; default 10000)",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--reset", action="store_true", help="Delete the existing fleet before seeding."
        )

    def handle(self, *args, sites, nodes_per_site, partners, **options):
        if sites < 0 or nodes_per_site < 0 or not 1 <= partners <= len(PARTNERS):
            raise CommandError(
                f"--sites and --nodes-per-site must be >= 0, --partners 1..{len(PARTNERS)}."
            )
        if not 0 < options["redfish_offset"] < 65535:
            raise CommandError("--redfish-offset must be between 1 and 65534.")
        rng = random.Random(options["seed"])
        with transaction.atomic():
            if options["reset"]:
                HeatMeter.objects.all().delete()
                Node.objects.all().delete()
                Site.objects.all().delete()
            Organisation.objects.get_or_create(
                name="Heatsite Operations", defaults={"kind": Organisation.Kind.OPERATOR}
            )
            orgs = [
                Organisation.objects.get_or_create(
                    name=name,
                    defaults={
                        "kind": Organisation.Kind.PARTNER,
                        "contact_email": f"contact@{short.lower()}.example",
                    },
                )[0]
                for name, short in PARTNERS[:partners]
            ]
            if not Site.objects.exists():
                self._fleet(rng, orgs, sites, nodes_per_site, options)
            users = self._users(orgs)
        self.stdout.write(
            f"# fleet: {Site.objects.count()} sites, {Node.objects.count()} nodes, "
            f"{HeatMeter.objects.count()} meters"
        )
        # Staff log in with a second factor: their TOTP secret is the fourth field (type it into
        # an authenticator app), the otpauth:// URI follows further down for scanning/pasting.
        secrets = {user.pk: _demo_totp(user) for user in users}
        for user in users:
            secret = secrets[user.pk]
            self.stdout.write(
                f"{user.username} {user.role} {DEMO_PASSWORD} {secret or ''}".rstrip()
            )
        for user in users:
            if secrets[user.pk]:
                self.stdout.write(f"# otpauth {factors.totp_uri(user, secrets[user.pk])}")

    def _fleet(self, rng, orgs, n_sites, nodes_per_site, options):
        # One ciphertext shared by the demo nodes: they share the lab's password, and
        # encrypting 250,000 copies would dominate the time of a 10,000-site seed.
        encrypted = crypto.encrypt("password")
        installed = datetime(2025, 1, 1, tzinfo=UTC)
        site_rows = []
        for i in range(n_sites):
            town, region, lat, lon, tz = TOWNS[i % len(TOWNS)]
            kind = KINDS[i % len(KINDS)]
            site_rows.append(
                Site(
                    code=f"{town[:3].upper()}-{i + 1:05d}",
                    name=f"{kind} {town} {i // len(TOWNS) + 1}",
                    address=f"{rng.randint(1, 180)} rue de la Chaleur, {town}",
                    city=town,
                    region=region,
                    latitude=Decimal(f"{lat + rng.uniform(-0.05, 0.05):.5f}"),
                    longitude=Decimal(f"{lon + rng.uniform(-0.05, 0.05):.5f}"),
                    partner=orgs[i % len(orgs)],
                    heat_network=f"Réseau {town}",
                    contract_min_supply_c=Decimal(rng.choice([55, 60, 60, 65])),
                    nominal_capacity_kw=Decimal(nodes_per_site * 900) / 1000,
                    status=(
                        Site.Status.ACTIVE
                        if i % 11 not in (7, 10)
                        else [Site.Status.MAINTENANCE, Site.Status.COMMISSIONING][i % 2]
                    ),
                    timezone=tz,
                )
            )
        created = Site.objects.bulk_create(site_rows, batch_size=2000)
        if not created or created[0].pk is None:  # backends without RETURNING
            created = list(Site.objects.order_by("id"))
        nodes, meters = [], []
        port = options["bmc_base_port"]
        for index, site in enumerate(created):
            for j in range(nodes_per_site):
                nodes.append(
                    Node(
                        site=site,
                        name=f"{site.code.lower()}-n{j + 1:02d}",
                        rack_position=f"R1-U{2 + 2 * j}",
                        model=MODELS[j % len(MODELS)],
                        serial=f"HS{site.pk:05d}{j + 1:03d}",
                        nominal_power_w=1000,
                        bmc_host=options["bmc_host"],
                        bmc_port=port,
                        bmc_protocol=PROTOCOLS[index % len(PROTOCOLS)],
                        redfish_port=_redfish_port(port, options["redfish_offset"]),
                        bmc_username="admin",
                        bmc_password_encrypted=encrypted,
                    )
                )
                port = port + 1 if port < 65535 else options["bmc_base_port"]
            meters.append(
                HeatMeter(
                    site=site,
                    serial=f"HM-{site.pk:06d}",
                    model="generic",
                    host="127.0.0.1",
                    port=options["meter_base_port"] + index % 1000,
                    unit_id=1,
                    installed_at=installed,
                )
            )
            if len(nodes) >= 20000:
                Node.objects.bulk_create(nodes, batch_size=5000)
                nodes = []
        Node.objects.bulk_create(nodes, batch_size=5000)
        HeatMeter.objects.bulk_create(meters, batch_size=5000)

    def _users(self, orgs):
        specs = [
            ("engineer", Role.ENGINEER, None),
            # A second engineer: a firmware campaign is approved by someone other than its author.
            ("engineer2", Role.ENGINEER, None),
            ("planner", Role.PLANNER, None),
            ("admin", Role.ADMIN, None),
        ] + [(f"partner-{org.name.split()[-1].lower()}", Role.PARTNER, org) for org in orgs]
        users = []
        for username, role, org in specs:
            user, _ = User.objects.get_or_create(username=username)
            user.role, user.organisation = role, org
            user.first_name = username.split("-")[0].capitalize()
            if orgs and org == orgs[0]:
                # The demo's French-speaking partner: pages, e-mails, statements in French.
                user.language = "fr"
            user.set_password(DEMO_PASSWORD)
            user.save()
            users.append(user)
        return users


def _demo_totp(user) -> str | None:
    """The TOTP secret of a demo account whose role requires a factor: the one it already has
    (an authenticator app set up on an earlier run keeps working), else a new one."""
    if not factors.factor_required(user):
        return None
    return factors.totp_secret(user) or factors.enrol_totp(user)


def _redfish_port(ipmi_port: int, offset: int) -> int:
    port = ipmi_port + offset
    return port if port <= 65535 else 443
