"""Water properties and heat-meter physics (EN 1434), pure functions.

Density and specific enthalpy of liquid water come from IAPWS-IF97 region 1, tabulated every
5 °C from 0 to 140 °C at 5 bar and 16 bar (values computed with the ``iapws`` package, 1.5.5).
Between grid points we use 4-point (cubic) Lagrange interpolation in temperature and linear
interpolation in pressure; against IF97 the error is below 0.005 % for density and enthalpy and
below 0.05 % for the specific heat over 5-130 °C and 1-25 bar.

The heat coefficient ``k`` is the one EN 1434-1 defines for heat meters:

    k(θf, θr) = rho(θ_meter) · (h(θf) - h(θr)) / (θf - θr)

where rho is taken at the temperature of the pipe in which the volume-flow sensor sits (the
return pipe in most district-heating installations, ours included) and h is the specific
enthalpy. With rho in kg/m³ and h in kJ/kg, k is in kJ/(m³·K); divided by 3600 it is in
kWh/(m³·K), the unit used below, so that

    P [kW] = k [kWh/(m³·K)] · V̇ [m³/h] · (θf - θr) [K].

EN 1434-1 tabulates k at 16 bar, which is therefore the default pressure everywhere here; pass
``pressure_bar=1.01325`` for values at atmospheric pressure (below 100 °C only in reality).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Literal

MIN_TEMPERATURE_C = 0.0
MAX_TEMPERATURE_C = 140.0
DEFAULT_PRESSURE_BAR = 16.0
KJ_PER_KWH = 3600.0

FlowSide = Literal["return", "supply"]


class PhysicsError(ValueError):
    """A temperature, pressure or flow outside the range these formulas are valid for."""


# (°C, density kg/m³, specific enthalpy kJ/kg), IAPWS-IF97 region 1.
_TABLE_5_BAR = (
    (0, 1000.0470, 0.4670),
    (5, 1000.1628, 21.5161),
    (10, 999.8919, 42.5075),
    (15, 999.2870, 63.4606),
    (20, 998.3884, 84.3882),
    (25, 997.2275, 105.2985),
    (30, 995.8293, 126.1973),
    (35, 994.2141, 147.0892),
    (40, 992.3986, 167.9776),
    (45, 990.3969, 188.8659),
    (50, 988.2208, 209.7568),
    (55, 985.8804, 230.6531),
    (60, 983.3843, 251.5575),
    (65, 980.7403, 272.4727),
    (70, 977.9547, 293.4013),
    (75, 975.0333, 314.3458),
    (80, 971.9811, 335.3089),
    (85, 968.8023, 356.2931),
    (90, 965.5006, 377.3010),
    (95, 962.0793, 398.3353),
    (100, 958.5410, 419.3985),
    (105, 954.8880, 440.4935),
    (110, 951.1220, 461.6228),
    (115, 947.2444, 482.7895),
    (120, 943.2564, 503.9963),
    (125, 939.1585, 525.2465),
    (130, 934.9511, 546.5432),
    (135, 930.6341, 567.8898),
    (140, 926.2072, 589.2900),
)
_TABLE_16_BAR = (
    (0, 1000.6054, 1.5859),
    (5, 1000.7025, 22.6098),
    (10, 1000.4164, 43.5791),
    (15, 999.7992, 64.5127),
    (20, 998.8906, 85.4225),
    (25, 997.7218, 106.3164),
    (30, 996.3175, 127.2000),
    (35, 994.6977, 148.0774),
    (40, 992.8790, 168.9521),
    (45, 990.8753, 189.8271),
    (50, 988.6983, 210.7052),
    (55, 986.3579, 231.5890),
    (60, 983.8629, 252.4811),
    (65, 981.2207, 273.3842),
    (70, 978.4378, 294.3007),
    (75, 975.5198, 315.2333),
    (80, 972.4718, 336.1844),
    (85, 969.2978, 357.1565),
    (90, 966.0018, 378.1523),
    (95, 962.5867, 399.1743),
    (100, 959.0553, 420.2250),
    (105, 955.4099, 441.3072),
    (110, 951.6522, 462.4235),
    (115, 947.7836, 483.5768),
    (120, 943.8053, 504.7699),
    (125, 939.7179, 526.0058),
    (130, 935.5217, 547.2878),
    (135, 931.2168, 568.6191),
    (140, 926.8028, 590.0034),
)
_GRID = [row[0] for row in _TABLE_16_BAR]
_P_LOW, _P_HIGH = 5.0, 16.0


def _check(theta_c: float, pressure_bar: float) -> None:
    if not MIN_TEMPERATURE_C <= theta_c <= MAX_TEMPERATURE_C:
        raise PhysicsError(
            f"temperature {theta_c} °C is outside {MIN_TEMPERATURE_C:g}-{MAX_TEMPERATURE_C:g} °C"
        )
    if not 1.0 <= pressure_bar <= 25.0:
        raise PhysicsError(f"pressure {pressure_bar} bar is outside 1-25 bar")


def _stencil(theta_c: float) -> list[int]:
    """Indices of the four grid points around theta (clamped at the table ends)."""
    i = bisect_right(_GRID, theta_c) - 1
    first = min(max(i - 1, 0), len(_GRID) - 4)
    return list(range(first, first + 4))


def _lagrange(theta_c: float, column: int, table: tuple, derivative: bool = False) -> float:
    idx = _stencil(theta_c)
    xs = [float(_GRID[i]) for i in idx]
    ys = [table[i][column] for i in idx]
    total = 0.0
    for j, yj in enumerate(ys):
        others = [xs[m] for m in range(4) if m != j]
        denom = 1.0
        for xm in others:
            denom *= xs[j] - xm
        if derivative:
            # d/dx of prod(x - xm): sum over m of prod over the others.
            num = 0.0
            for skip in range(3):
                term = 1.0
                for m, xm in enumerate(others):
                    if m != skip:
                        term *= theta_c - xm
                num += term
        else:
            num = 1.0
            for xm in others:
                num *= theta_c - xm
        total += yj * num / denom
    return total


def _property(theta_c: float, pressure_bar: float, column: int, derivative: bool = False) -> float:
    _check(theta_c, pressure_bar)
    low = _lagrange(theta_c, column, _TABLE_5_BAR, derivative)
    high = _lagrange(theta_c, column, _TABLE_16_BAR, derivative)
    # Liquid water is nearly incompressible: properties are linear in pressure to well
    # within our accuracy over 1-25 bar, so extrapolating below 5 bar is safe.
    return low + (high - low) * (pressure_bar - _P_LOW) / (_P_HIGH - _P_LOW)


def water_density(theta_c: float, *, pressure_bar: float = DEFAULT_PRESSURE_BAR) -> float:
    """Density of liquid water in kg/m³ at ``theta_c`` °C (IAPWS-IF97)."""
    return _property(theta_c, pressure_bar, 1)


def water_enthalpy(theta_c: float, *, pressure_bar: float = DEFAULT_PRESSURE_BAR) -> float:
    """Specific enthalpy of liquid water in kJ/kg at ``theta_c`` °C (IAPWS-IF97)."""
    return _property(theta_c, pressure_bar, 2)


def water_specific_heat(theta_c: float, *, pressure_bar: float = DEFAULT_PRESSURE_BAR) -> float:
    """Isobaric specific heat capacity cp of liquid water in kJ/(kg·K) at ``theta_c`` °C."""
    return _property(theta_c, pressure_bar, 2, derivative=True)


def heat_coefficient(
    supply_c: float,
    return_c: float,
    *,
    flow_at: FlowSide = "return",
    pressure_bar: float = DEFAULT_PRESSURE_BAR,
) -> float:
    """EN 1434 heat coefficient k in kWh/(m³·K); multiply by 3.6 for MJ/(m³·K).

    ``flow_at`` names the pipe the volume-flow sensor is installed in. When both temperatures
    are equal the enthalpy quotient becomes the specific heat (its limit).
    """
    if flow_at not in ("return", "supply"):
        raise PhysicsError(f"flow_at must be 'return' or 'supply', not {flow_at!r}")
    rho = water_density(return_c if flow_at == "return" else supply_c, pressure_bar=pressure_bar)
    if abs(supply_c - return_c) < 1e-9:
        per_kelvin = water_specific_heat(supply_c, pressure_bar=pressure_bar)
    else:
        dh = water_enthalpy(supply_c, pressure_bar=pressure_bar) - water_enthalpy(
            return_c, pressure_bar=pressure_bar
        )
        per_kelvin = dh / (supply_c - return_c)
    return rho * per_kelvin / KJ_PER_KWH


def thermal_power_kw(
    flow_m3h: float,
    supply_c: float,
    return_c: float,
    *,
    flow_at: FlowSide = "return",
    pressure_bar: float = DEFAULT_PRESSURE_BAR,
) -> float:
    """Thermal power in kW carried by ``flow_m3h`` heated from ``return_c`` to ``supply_c``.

    Q = k · V̇ · ΔT (rho·c·V̇·ΔT with EN 1434's enthalpy-based k). Negative when supply is
    colder than return (heat flowing the other way).
    """
    if flow_m3h < 0:
        raise PhysicsError(f"volume flow {flow_m3h} m³/h is negative")
    k = heat_coefficient(supply_c, return_c, flow_at=flow_at, pressure_bar=pressure_bar)
    return k * flow_m3h * (supply_c - return_c)


def flow_for_power_m3h(
    power_kw: float,
    supply_c: float,
    return_c: float,
    *,
    flow_at: FlowSide = "return",
    pressure_bar: float = DEFAULT_PRESSURE_BAR,
) -> float:
    """Volume flow in m³/h (measured in the ``flow_at`` pipe) that carries ``power_kw``."""
    if power_kw < 0:
        raise PhysicsError(f"thermal power {power_kw} kW is negative")
    if supply_c - return_c <= 0:
        raise PhysicsError(
            f"supply {supply_c} °C must be warmer than return {return_c} °C to carry heat"
        )
    k = heat_coefficient(supply_c, return_c, flow_at=flow_at, pressure_bar=pressure_bar)
    return power_kw / (k * (supply_c - return_c))
