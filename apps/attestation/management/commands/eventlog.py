"""``manage.py eventlog FILE``: list a TCG event log's events and its replayed PCRs."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.attestation.tcg.eventlog import EventLogError, parse_event_log, replay


class Command(BaseCommand):
    help = "Print a TCG PC Client event log (events and the replayed PCRs of every bank)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="binary event log, e.g. binary_bios_measurements")
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        try:
            log = parse_event_log(raw)
            banks = replay(log)
        except EventLogError as exc:
            raise CommandError(f"{path}: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps(_as_json(log, banks), indent=1))
            return
        self.stdout.write(
            f"{path}: {log.format} log, {len(log.events)} events, banks {', '.join(log.banks)}"
        )
        shown_bank = "sha256" if "sha256" in log.banks else log.banks[0]
        for ev in log.events:
            digest = ev.digests.get(shown_bank, b"").hex()
            self.stdout.write(
                f"{ev.index:4d} PCR{ev.pcr:<2d} {ev.type_name:<34} {shown_bank}:{digest[:16]}  "
                f"{ev.summary()}"
            )
        for bank, pcrs in banks.items():
            self.stdout.write(f"{bank}:")
            for index, value in pcrs.items():
                self.stdout.write(f"  {index:2d}: {value.hex()}")


def _as_json(log, banks):
    return {
        "format": log.format,
        "banks": {bank: {str(i): v.hex() for i, v in pcrs.items()} for bank, pcrs in banks.items()},
        "events": [
            {
                "index": ev.index,
                "pcr": ev.pcr,
                "type": ev.type_name,
                "digests": {bank: d.hex() for bank, d in ev.digests.items()},
                "summary": ev.summary(),
                "data": ev.data.hex(),
            }
            for ev in log.events
        ],
    }
