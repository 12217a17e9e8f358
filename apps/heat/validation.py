"""Physical plausibility of a meter reading: what may be stored as truth and what may not.

:func:`validate_reading` is the rule, one reading at a time. :func:`batch_valid` applies the
same rule to whole arrays of readings (numpy) for the ingestion fast path; it only answers
"does every check pass", and the caller falls back to :func:`validate_reading` for any meter
with a reading it refuses, so reasons and rebasing always come from the one rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

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


def _kwh(value: float) -> str:
    # Registers decode as count x scale (12 x 0.1 = 1.2000000000000002): people read 1.2.
    text = f"{value:.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


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
        return _reject("register_out_of_range", f"register {_kwh(r.energy_kwh)} kWh")
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
                f"register {_kwh(r.energy_kwh)} kWh below previous "
                f"{_kwh(previous.register_kwh)} kWh",
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


# --- the same rule over arrays ---------------------------------------------------------------

_GRID = np.array(physics._GRID, dtype=float)
_TABLES = (np.array(physics._TABLE_5_BAR, dtype=float), np.array(physics._TABLE_16_BAR))
US_PER_S = 1_000_000


def _lagrange(theta: np.ndarray, column: int, table: np.ndarray, derivative: bool) -> np.ndarray:
    """``physics._lagrange`` over an array, with the same operations in the same order."""
    i = np.searchsorted(_GRID, theta, side="right") - 1
    first = np.clip(i - 1, 0, len(_GRID) - 4)
    xs = [_GRID[first + k] for k in range(4)]
    ys = [table[first + k, column] for k in range(4)]
    total = np.zeros_like(theta)
    for j in range(4):
        others = [xs[m] for m in range(4) if m != j]
        denom = np.ones_like(theta)
        for xm in others:
            denom = denom * (xs[j] - xm)
        if derivative:
            num = np.zeros_like(theta)
            for skip in range(3):
                term = np.ones_like(theta)
                for m, xm in enumerate(others):
                    if m != skip:
                        term = term * (theta - xm)
                num = num + term
        else:
            num = np.ones_like(theta)
            for xm in others:
                num = num * (theta - xm)
        total = total + ys[j] * num / denom
    return total


def _property(theta: np.ndarray, column: int, derivative: bool = False) -> np.ndarray:
    low = _lagrange(theta, column, _TABLES[0], derivative)
    high = _lagrange(theta, column, _TABLES[1], derivative)
    pressure = physics.DEFAULT_PRESSURE_BAR
    return low + (high - low) * (pressure - physics._P_LOW) / (physics._P_HIGH - physics._P_LOW)


def heat_coefficients(
    supply_c: np.ndarray, return_c: np.ndarray, flow_at_supply: np.ndarray
) -> np.ndarray:
    """:func:`physics.heat_coefficient` at 16 bar for arrays (temperatures within 0-140 °C)."""
    rho = _property(np.where(flow_at_supply, supply_c, return_c), 1)
    diff = supply_c - return_c
    equal = np.abs(diff) < 1e-9
    dh = _property(supply_c, 2) - _property(return_c, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_kelvin = np.where(equal, _property(supply_c, 2, derivative=True), dh / diff)
    return rho * per_kelvin / physics.KJ_PER_KWH


@dataclass(frozen=True)
class BatchVerdict:
    """Per reading: ``ok`` if every check of :func:`validate_reading` passes against the given
    predecessor, with the register increase and rollover it would book."""

    ok: np.ndarray
    delta_kwh: np.ndarray
    rollover: np.ndarray


def batch_valid(
    *,
    supply_c: np.ndarray,
    return_c: np.ndarray,
    flow_m3h: np.ndarray,
    power_kw: np.ndarray,
    register_kwh: np.ndarray,
    ts_us: np.ndarray,
    rollover_kwh: np.ndarray,
    flow_at_supply: np.ndarray,
    has_previous: np.ndarray,
    previous_ts_us: np.ndarray,
    previous_power_kw: np.ndarray,
    previous_register_kwh: np.ndarray,
    previous_since_us: np.ndarray,
) -> BatchVerdict:
    """:func:`validate_reading` for arrays (timestamps as integer microseconds since the epoch).

    ``previous_since_us`` is when the predecessor's register last changed (its own time if
    unknown). Entries without a predecessor skip the register checks, as a first reading does.
    """
    temps_ok = (
        (supply_c >= MIN_TEMP_C)
        & (supply_c <= MAX_TEMP_C)
        & (return_c >= MIN_TEMP_C)
        & (return_c <= MAX_TEMP_C)
    )
    ok = temps_ok & (flow_m3h >= 0) & (power_kw >= 0)
    ok &= ~((power_kw > 0) & (supply_c < return_c - REVERSE_TOLERANCE_C))
    safe_supply = np.where(temps_ok, supply_c, 50.0)
    safe_return = np.where(temps_ok, return_c, 40.0)
    k = heat_coefficients(safe_supply, safe_return, flow_at_supply)
    expected = k * flow_m3h * np.maximum(supply_c - return_c, 0.0)
    tolerance = np.maximum(POWER_TOLERANCE * np.maximum(power_kw, expected), POWER_TOLERANCE_KW)
    ok &= ~(np.abs(power_kw - expected) > tolerance)
    ok &= (register_kwh >= 0) & (register_kwh < rollover_kwh)

    delta = register_kwh - previous_register_kwh
    rollover = has_previous & (delta < 0) & (-delta > rollover_kwh / 2)
    delta = np.where(rollover, delta + rollover_kwh, delta)
    ok &= ~(has_previous & (delta < 0))
    hours = (ts_us - previous_ts_us) / US_PER_S / 3600
    top = np.maximum(power_kw, previous_power_kw)
    ok &= ~(has_previous & (delta > top * hours * JUMP_FACTOR + JUMP_SLACK_KWH))
    still_h = (ts_us - previous_since_us) / US_PER_S / 3600
    frozen = (delta == 0) & (np.minimum(power_kw, previous_power_kw) * still_h > FROZEN_KWH)
    ok &= ~(has_previous & frozen)
    return BatchVerdict(ok=ok, delta_kwh=np.where(has_previous, delta, 0.0), rollover=rollover)
