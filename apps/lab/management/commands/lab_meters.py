"""Serve simulated heat meters over Modbus TCP on loopback until interrupted.

    python manage.py lab_meters --base-port 15020 --count 12
    python manage.py lab_meters --config meters.json
        # a JSON list of {port, unit_id, serial, model, nominal_kw}
    python manage.py lab_meters --from-db              # every HeatMeter on 127.0.0.1
        # (registers resume from the console's record, as in run_lab)

``--speed 60`` runs simulated time 60x faster than real time (a day in 24 minutes).
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.heat.meters import RegisterMapError
from apps.lab.meters import MeterFarm, SimClock
from apps.lab.meters.resume import resume_registers
from apps.sites.models import HeatMeter

REQUIRED = ("port", "unit_id", "serial", "model", "nominal_kw")


def load_config(path: str) -> list[dict[str, Any]]:
    """Read and check a JSON meter list; :class:`CommandError` says what is wrong."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, list) or not data:
        raise CommandError(f"{path} must hold a non-empty JSON list of meters")
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or any(k not in entry for k in REQUIRED):
            raise CommandError(f"meter #{i} needs {', '.join(REQUIRED)}")
    return data


class Command(BaseCommand):
    help = "Serve simulated heat meters (pymodbus) on 127.0.0.1."

    def add_arguments(self, parser):
        parser.add_argument("--base-port", type=int, default=15020)
        parser.add_argument("--count", type=int, default=12)
        parser.add_argument(
            "--config", help="JSON list of {port, unit_id, serial, model, nominal_kw}"
        )
        parser.add_argument("--from-db", action="store_true", help="serve HeatMeters on loopback")
        parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
        parser.add_argument("--nominal-kw", type=float, default=100.0)
        parser.add_argument("--run-for", type=float, default=0, help="seconds, 0 = until Ctrl-C")

    def handle(self, *args, **opts):
        clock = SimClock(datetime.now(UTC), speed=opts["speed"])
        if opts["config"]:
            meters = load_config(opts["config"])
        elif opts["from_db"]:
            rows = list(
                HeatMeter.objects.filter(
                    host__in=["127.0.0.1", "localhost"], removed_at__isnull=True
                ).select_related("site")
            )
            registers = resume_registers([m.id for m in rows], now=clock.now())
            meters = [
                {"port": m.port, "unit_id": m.unit_id, "serial": m.serial, "model": m.model,
                 "nominal_kw": float(m.site.nominal_capacity_kw) or opts["nominal_kw"],
                 "timezone": m.site.timezone,
                 "initial_energy_kwh": registers.get(m.id, 0.0)}
                for m in rows
            ]  # fmt: skip
        else:
            if not 1 <= opts["count"] <= 1000 or not 1024 <= opts["base_port"] <= 65000:
                raise CommandError("count must be 1-1000 and base port 1024-65000")
            meters = [
                {"port": opts["base_port"] + i, "unit_id": 1, "serial": f"LAB-HM-{i + 1:04d}",
                 "model": "generic", "nominal_kw": opts["nominal_kw"]}
                for i in range(opts["count"])
            ]  # fmt: skip
        farm = MeterFarm(clock)
        try:
            for m in meters:
                extra = {k: m[k] for k in ("timezone", "initial_energy_kwh") if k in m}
                try:
                    lab = farm.add(
                        str(m["serial"]), port=int(m["port"]), unit_id=int(m["unit_id"]),
                        model=str(m["model"]), nominal_kw=float(m["nominal_kw"]), **extra,
                    )  # fmt: skip
                except (RegisterMapError, OSError, RuntimeError, ValueError) as exc:
                    raise CommandError(f"meter {m['serial']}: {exc}") from exc
                self.stdout.write(
                    f"{lab.sim.serial}  127.0.0.1:{lab.port} unit {lab.unit_id}  {lab.sim.model}"
                )
            self.stdout.write(self.style.SUCCESS(f"{len(meters)} meters serving; Ctrl-C stops."))
            deadline = time.monotonic() + opts["run_for"] if opts["run_for"] else None
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            farm.close()
