"""``manage.py seed_attestation``: the demo's platform profile, firmware releases and node
configurations (the lab SKU, releases 1.4.0 and 1.5.0, every demo TPM node on 1.4.0 with the
approved NIC variant). Idempotent; run after ``seed_demo``."""

from django.core.management.base import BaseCommand, CommandError

from apps.lab.tpm.node import LAB_FIRMWARE_VERSIONS, LAB_PROFILE
from apps.lab.tpm.seed import seed_lab_nodes
from apps.sites.models import Node


class Command(BaseCommand):
    help = "Seed the lab platform profile, firmware releases and demo node configurations."

    def add_arguments(self, parser):
        parser.add_argument("--nodes", type=int, default=200, help="first N nodes (by id)")

    def handle(self, *args, nodes, **options):
        if not 0 <= nodes <= 5000:
            raise CommandError("--nodes must be between 0 and 5000")
        chosen = list(Node.objects.order_by("id")[:nodes])
        count = seed_lab_nodes(chosen)
        self.stdout.write(
            f"attestation: profile {LAB_PROFILE.sku}, releases "
            f"{', '.join(LAB_FIRMWARE_VERSIONS)}, {count} node configurations"
        )
