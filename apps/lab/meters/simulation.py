"""A heat meter whose values follow physics, on a controllable clock.

The model, per meter:

* Electrical load of the site's servers ``L(t) = L0 · (1 + a · sin(ω·t + φ))`` with
  ``ω = 2π / 86 400 s`` and ``t`` in Unix seconds; ``L0`` is an input (:meth:`set_load`) and
  ``a`` the daily utilisation swing (0.15 by default, also when the lab feeds ``L0`` from its
  nodes' draw; 0 for a flat load).
* Heat delivered ``P(t) = η · L(t)`` with recovery efficiency ``η`` (0.9).
* The network's return water arrives at ``θr(t) = θr̄ - s · cos(2π (h - 7) / 24)`` (``h`` the
  site's local hour): coldest at 07:00 when the town's demand peaks, warmest at 19:00.
* The servers heat it to the supply set-point ``θf`` (70 °C); the flow follows from
  ``P = k(θf, θr) · V̇ · (θf - θr)`` with the EN 1434 coefficient (flow sensor in the return).
* The energy register integrates ``P`` exactly in closed form between changes of ``L0``/``a``:
  ``E(t) = E(t0) + η L0 [ (t - t0) - a/ω (cos(ω t + φ) - cos(ω t0 + φ)) ] / 3600`` kWh,
  then wraps at the register map's rollover.

Faults: frozen values, nonsense readings, an energy register near its rollover; going offline
is the server's business (:mod:`apps.lab.meters.server`).
"""

from __future__ import annotations

import math
import threading
import time
import zlib
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apps.heat import physics
from apps.heat.meters.registers import RegisterMap, register_map

DAY_S = 86_400.0
OMEGA = 2 * math.pi / DAY_S
# Load peaks at 14:00 UTC: sin(ω t + φ) = 1 when ω t + φ = π/2 at t = 14 h.
PHASE = math.pi / 2 - OMEGA * 14 * 3600
# The load ``run_lab`` runs its nodes at (its ``--load``), before each node's own offset.
NODE_LOAD = 0.7


def node_load(name: str, base: float = NODE_LOAD) -> float:
    """The load (0.1-1) a lab node runs at: nodes of a real site never run at exactly the same
    load, so each is offset from ``base`` by up to ±0.2, fixed by its name."""
    return min(1.0, max(0.1, base + (zlib.crc32(name.encode()) % 41 - 20) / 100))


def site_load_kw(nodes: Iterable[tuple[str, float]], base: float = NODE_LOAD) -> float:
    """The electrical load (kW) a site's lab nodes draw, all powered on: what ``run_lab`` sets
    the site's meter to, from ``(name, nominal power in W)`` pairs."""
    return sum(float(watts) * node_load(name, base) for name, watts in nodes) / 1000


class SimClock:
    """Simulated time: ``now() = start + (real elapsed) x speed``; settable, thread-safe.

    ``speed=0`` stops time, so tests move it with :meth:`advance` and get exact values.
    """

    def __init__(self, start: datetime | None = None, speed: float = 1.0) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("SimClock needs an aware start time")
        self._lock = threading.Lock()
        self._sim = start or datetime.now(UTC)
        self._real = time.monotonic()
        self._speed = float(speed)

    def now(self) -> datetime:
        with self._lock:
            return self._sim + timedelta(seconds=(time.monotonic() - self._real) * self._speed)

    def set(self, when: datetime, speed: float | None = None) -> None:
        if when.tzinfo is None:
            raise ValueError("SimClock needs aware datetimes")
        with self._lock:
            self._sim, self._real = when, time.monotonic()
            if speed is not None:
                self._speed = float(speed)

    def advance(self, seconds: float) -> None:
        self.set(self.now() + timedelta(seconds=seconds))

    @property
    def speed(self) -> float:
        return self._speed


@dataclass(frozen=True)
class MeterValues:
    """What the meter shows at one instant (the lab's truth, before register encoding)."""

    supply_c: float
    return_c: float
    flow_m3h: float
    power_kw: float
    energy_kwh: float  # register value: wrapped at the rollover
    status: int = 0

    def as_dict(self) -> dict[str, float]:
        return {
            "supply_c": self.supply_c,
            "return_c": self.return_c,
            "flow_m3h": self.flow_m3h,
            "power_kw": self.power_kw,
            "energy_kwh": self.energy_kwh,
            "status": self.status,
        }


class SimulatedMeter:
    """One site's heat meter. All setters are thread-safe and take effect immediately."""

    def __init__(
        self,
        serial: str,
        *,
        clock: SimClock,
        model: str = "generic",
        nominal_kw: float = 100.0,
        efficiency: float = 0.9,
        load_kw: float | None = None,
        daily_swing: float = 0.15,
        supply_setpoint_c: float = 70.0,
        return_mean_c: float = 45.0,
        return_swing_c: float = 5.0,
        timezone: str = "Europe/Paris",
        initial_energy_kwh: float = 0.0,
    ) -> None:
        self.serial = serial
        self.clock = clock
        self.register_map: RegisterMap = register_map(model)
        self.model = model
        self.nominal_kw = nominal_kw
        self.efficiency = efficiency
        self.supply_setpoint_c = supply_setpoint_c
        self.return_mean_c = return_mean_c
        self.return_swing_c = return_swing_c
        self.tz = zoneinfo.ZoneInfo(timezone)
        self._lock = threading.RLock()
        # Default electrical load: 80 % of what delivers the nominal heat.
        self._load_kw = nominal_kw / efficiency * 0.8 if load_kw is None else load_kw
        self._swing = daily_swing
        self._t0 = clock.now().timestamp()
        self._e0 = initial_energy_kwh
        self._register_offset = 0.0
        self._frozen: MeterValues | None = None
        self._nonsense: str | None = None

    # --- inputs ---------------------------------------------------------------------------

    def set_load(self, load_kw: float, *, daily_swing: float | None = None) -> None:
        """Set the servers' electrical load ``L0`` (kW) and optionally the daily swing ``a``."""
        if load_kw < 0:
            raise ValueError("electrical load cannot be negative")
        with self._lock:
            self._rebase()
            self._load_kw = load_kw
            if daily_swing is not None:
                if not 0 <= daily_swing <= 1:
                    raise ValueError("daily swing must be within 0-1")
                self._swing = daily_swing

    @property
    def load_kw(self) -> float:
        return self._load_kw

    @property
    def daily_swing(self) -> float:
        return self._swing

    def _rebase(self) -> None:
        now = self.clock.now().timestamp()
        self._e0 = self._energy_total(now)
        self._t0 = now

    # --- faults ---------------------------------------------------------------------------

    def freeze(self) -> None:
        """Keep showing the current values (a stuck meter); the real energy still accrues."""
        with self._lock:
            self._frozen = self.values()

    def set_nonsense(self, kind: str | None) -> None:
        """Show an impossible reading: ``"hot"`` (supply 400 °C), ``"negative_flow"``; None ends."""
        if kind not in (None, "hot", "negative_flow"):
            raise ValueError(f"unknown nonsense kind {kind!r}")
        with self._lock:
            self._nonsense = kind

    def set_register_to(self, register_kwh: float) -> None:
        """Make the energy register show ``register_kwh`` now, e.g. just below its rollover."""
        with self._lock:
            total = self._energy_total(self.clock.now().timestamp())
            self._register_offset = register_kwh - total

    def clear_faults(self) -> None:
        with self._lock:
            self._frozen = None
            self._nonsense = None

    # --- physics --------------------------------------------------------------------------

    def power_kw(self, t: float) -> float:
        """Thermal power at Unix time ``t`` (s)."""
        with self._lock:
            return self.efficiency * self._load_kw * (1 + self._swing * math.sin(OMEGA * t + PHASE))

    def _energy_total(self, t: float) -> float:
        integral_s = (t - self._t0) - self._swing / OMEGA * (
            math.cos(OMEGA * t + PHASE) - math.cos(OMEGA * self._t0 + PHASE)
        )
        return self._e0 + self.efficiency * self._load_kw * integral_s / 3600.0

    def energy_total_kwh(self, at: datetime | None = None) -> float:
        """Heat delivered since the meter was created (unwrapped, no register offset)."""
        with self._lock:
            return self._energy_total((at or self.clock.now()).timestamp())

    def return_c(self, at: datetime) -> float:
        local = at.astimezone(self.tz)
        hour = local.hour + local.minute / 60 + local.second / 3600
        return self.return_mean_c - self.return_swing_c * math.cos(2 * math.pi * (hour - 7) / 24)

    def values(self, at: datetime | None = None) -> MeterValues:
        """The meter's display at ``at`` (default: the clock's now), faults applied."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            at = at or self.clock.now()
            t = at.timestamp()
            power = self.power_kw(t)
            ret = self.return_c(at)
            if power > 0:
                supply = self.supply_setpoint_c
                flow = physics.flow_for_power_m3h(
                    power, supply, ret, flow_at=self.register_map.flow_at
                )
            else:
                supply, flow = ret, 0.0
            register = (self._energy_total(t) + self._register_offset) % (
                self.register_map.rollover_kwh
            )
            if self._nonsense == "hot":
                supply = 400.0
            elif self._nonsense == "negative_flow":
                flow = -abs(flow) - 1.0
            return MeterValues(supply, ret, flow, power, register)

    def registers(self, at: datetime | None = None) -> list[int]:
        """The register block the Modbus server answers with (starting at the map's span)."""
        return self.register_map.encode(self.values(at).as_dict(), saturate=True)
