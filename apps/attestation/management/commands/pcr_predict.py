"""``manage.py pcr_predict --node NAME``: a node's predicted sha256 PCR0-7 and event sequence."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.attestation import services
from apps.sites.models import Node


class Command(BaseCommand):
    help = "Print the PCR values and event sequence predicted for a node (release + config)."

    def add_arguments(self, parser):
        parser.add_argument("--node", required=True, help="node name")
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")

    def handle(self, *args, **options):
        name = options["node"]
        node = Node.objects.filter(name=name).first()
        if node is None:
            raise CommandError(f"no node named {name!r}")
        try:
            prediction = services.node_prediction(node)
        except services.AttestationError as exc:
            raise CommandError(str(exc)) from None
        pcrs = prediction.pcrs["sha256"]
        if options["json"]:
            body = {
                "node": node.name,
                "release": prediction.release_version,
                "pcrs": {"sha256": {str(p): v for p, v in sorted(pcrs.items())}},
                "events": [
                    {
                        "pcr": e.pcr,
                        "type": e.type_name,
                        "label": e.label,
                        "sha256": e.digests.get("sha256", b"").hex(),
                    }
                    for e in prediction.events
                ],
            }
            self.stdout.write(json.dumps(body, indent=1))
            return
        self.stdout.write(f"{node.name}: firmware release {prediction.release_version}")
        self.stdout.write("predicted sha256 PCRs:")
        for pcr, value in sorted(pcrs.items()):
            self.stdout.write(f"  PCR{pcr}: {value}")
        self.stdout.write(f"event sequence ({len(prediction.events)} measured events):")
        for i, event in enumerate(prediction.events):
            self.stdout.write(f"  {i:3d} PCR{event.pcr} {event.describe()}")
