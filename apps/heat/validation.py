"""Physical plausibility of a meter reading: what may be stored as truth and what may not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import physics
from .meters.base import MeterReading

MIN_TEMP_C = 0.0
MAX_TEMP_C = 130.0
REVERSE_TOLERANCE_C = 0.5  # sensor pair mismatch allowed when supply ≈ return
POWER_TOLERANCE = 0.05  # relative, between the meter's power and k·V̇·ΔT
POWER_TOLERANCE_KW = 1.0  # absolute floor for the same check (resolution of small meters)
JUMP_FACTOR = 3.0  # register increase allowed vs. what the reported power could deliver
JUMP_SLACK_KWH = 2.0  # resolution of the coarsest register plus rounding
FROZEN_KWH = 3.0  # energy the power implies before an unchanged register counts as stuck


@dataclass(frozen=True)
class Previous:
    """The predecessor a new reading is checked against (last accepted + register baseline)."""

    ts: datetime
    power_kw: float
    register_kwh: float
    register_since: datetime | None = None  # when the register last changed


@dataclass(frozen=True)
class Verdict:
    """Result of :func:`validate_reading`. ``delta_kwh`` is the register increase if accepted."""

    ok: bool
    reason: str = ""
    detail: str = ""
    delta_kwh: float = 0.0
    rollover: bool = False


def _reject(reason: str, detail: str) -> Verdict:
    return Verdict(False, reason, detail)


def validate_reading(
    reading: MeterReading,
    *,
    previous: Previous | None,
    rollover_kwh: float,
    flow_at: physics.FlowSide = "return",
) -> Verdict:
    """Check one reading. Reasons: ``temperature_out_of_range``, ``negative_flow``,
    ``negative_power``, ``supply_below_return``, ``power_inconsistent``,
    ``register_out_of_range``, ``register_backwards``, ``register_jump``, ``frozen``.
    """
    r = reading
    for name, value in (("supply", r.supply_c), ("return", r.return_c)):
        if not MIN_TEMP_C <= value <= MAX_TEMP_C:
            return _reject(
                "temperature_out_of_range",
                f"{name} {value:.2f} °C outside {MIN_TEMP_C:g}-{MAX_TEMP_C:g} °C",
            )
    if r.flow_m3h < 0:
        return _reject("negative_flow", f"flow {r.flow_m3h:.3f} m³/h")
    if r.power_kw < 0:
        return _reject("negative_power", f"power {r.power_kw:.2f} kW")
    if r.power_kw > 0 and r.supply_c < r.return_c - REVERSE_TOLERANCE_C:
        return _reject(
            "supply_below_return",
            f"supply {r.supply_c:.2f} °C below return {r.return_c:.2f} °C with power",
        )
    dt = max(r.supply_c - r.return_c, 0.0)
    expected = physics.heat_coefficient(r.supply_c, r.return_c, flow_at=flow_at) * r.flow_m3h * dt
    if abs(r.power_kw - expected) > max(
        POWER_TOLERANCE * max(r.power_kw, expected), POWER_TOLERANCE_KW
    ):
        return _reject(
            "power_inconsistent",
            f"power {r.power_kw:.2f} kW but k·V̇·ΔT gives {expected:.2f} kW",
        )
    if not 0 <= r.energy_kwh < rollover_kwh:
        return _reject("register_out_of_range", f"register {r.energy_kwh} kWh")
    if previous is None:
        return Verdict(True)
    delta = r.energy_kwh - previous.register_kwh
    rollover = False
    if delta < 0:
        if -delta > rollover_kwh / 2:
            delta += rollover_kwh
            rollover = True
        else:
            return _reject(
                "register_backwards",
                f"register {r.energy_kwh} kWh below previous {previous.register_kwh} kWh",
            )
    hours = (r.read_at - previous.ts).total_seconds() / 3600
    possible = max(r.power_kw, previous.power_kw) * hours
    if delta > possible * JUMP_FACTOR + JUMP_SLACK_KWH:
        return _reject(
            "register_jump",
            f"register rose {delta:.1f} kWh in {hours * 3600:.0f} s at ≤ "
            f"{max(r.power_kw, previous.power_kw):.1f} kW",
        )
    if delta == 0:
        since = previous.register_since or previous.ts
        still_h = (r.read_at - since).total_seconds() / 3600
        if min(r.power_kw, previous.power_kw) * still_h > FROZEN_KWH:
            return _reject("frozen", f"register unchanged for {still_h * 3600:.0f} s under power")
    return Verdict(True, delta_kwh=delta, rollover=rollover)
