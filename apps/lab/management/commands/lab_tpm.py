"""``manage.py lab_tpm --count N --base-port P --state-dir DIR``: run N lab TPM nodes + agents.

Each node gets a swtpm on 127.0.0.1 ports P+2i / P+2i+1, boots (extends its TPM from the lab
firmware model) and serves its agent over pinned HTTPS on an ephemeral port. The command prints
one line per node (agent port, certificate fingerprint, token, AK name) and runs until
interrupted; ``--sweep`` attests every node once and prints the verdicts instead.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.lab.tpm.node import LabTpmFleet
from apps.lab.tpm.swtpm import SwtpmError


class Command(BaseCommand):
    help = "Run N lab nodes, each with a software TPM (swtpm) and a node agent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=4)
        parser.add_argument("--base-port", type=int, default=23000)
        parser.add_argument("--state-dir", required=True)
        parser.add_argument("--sweep", action="store_true", help="attest every node once, exit")

    def handle(self, *args: object, **opts: object) -> None:
        count, base = int(opts["count"]), int(opts["base_port"])  # type: ignore[call-overload]
        if not 1 <= count <= 1000:
            raise CommandError("--count must be between 1 and 1000")
        if not 1024 <= base <= 65535 - 2 * count:
            raise CommandError("--base-port leaves no room for 2 ports per node")
        fleet = LabTpmFleet(count, base, Path(str(opts["state_dir"])))
        try:
            fleet.start()
        except (SwtpmError, OSError) as exc:
            raise CommandError(f"lab failed to start: {exc}") from None
        try:
            if opts["sweep"]:
                self._sweep(fleet)
                return
            for n in fleet.nodes:
                self.stdout.write(
                    f"{n.name} tpm={n.swtpm.port} agent=127.0.0.1:{n.agent_port} "
                    f"cert-sha256={n.cert_fingerprint} token={n.token.hex()}"
                )
            self.stdout.write(f"{count} lab TPM nodes running; Ctrl-C to stop")
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                while not stop.wait(1):
                    pass
            except KeyboardInterrupt:
                pass
        finally:
            fleet.stop()

    def _sweep(self, fleet: LabTpmFleet) -> None:
        from apps.lab.tpm.sweep import enrol, sweep

        enrolled = [enrol(n) for n in fleet.nodes]
        start = time.perf_counter()
        results = sweep(enrolled)
        took = time.perf_counter() - start
        for r in results:
            self.stdout.write(f"{r.node} {r.verdict} {r.reason}".rstrip())
        self.stdout.write(f"attested {len(results)} nodes in {took:.2f} s")
