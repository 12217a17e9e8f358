"""``manage.py console_broker``: the process that owns every serial-over-LAN session.

Run exactly one per deployment, next to the web servers, on the same channel layer (Redis):
it reads requests from the ``console.broker`` channel. SIGTERM/SIGINT close every BMC session
(deactivate payload, log out) before exiting, freeing the BMCs' session slots.
"""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand

from apps.console.broker import ConsoleBroker


class Command(BaseCommand):
    help = "Run the console broker: one SOL session per BMC, shared by every viewer."

    def add_arguments(self, parser):
        parser.add_argument(
            "--workers", type=int, default=32, help="threads for blocking BMC calls (default 32)"
        )

    def handle(self, *args, **options):
        broker = ConsoleBroker(workers=max(1, options["workers"]))

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, broker.stop)
            await broker.run()

        self.stdout.write(f"console broker listening on channel {broker.channel!r}")
        self.stdout.flush()
        asyncio.run(main())
        self.stdout.write("console broker stopped")
