"""Heat-meter port and adapters: :func:`driver_for` builds the right one for a meter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .base import HeatMeterDriver, MeterError, MeterReading, MeterStatus
from .modbus import ModbusHeatMeter
from .registers import RegisterMap, RegisterMapError, register_map

__all__ = [
    "HeatMeterDriver",
    "MeterError",
    "MeterReading",
    "MeterStatus",
    "ModbusHeatMeter",
    "RegisterMap",
    "RegisterMapError",
    "driver_for",
    "register_map",
]


def driver_for(
    *,
    protocol: str,
    host: str,
    port: int,
    unit_id: int,
    model: str,
    timeout: float = 3.0,
    clock: Callable[[], datetime] | None = None,
) -> HeatMeterDriver:
    """The adapter for a meter's protocol and model; :class:`MeterError` (fatal) if unknown."""
    if protocol != "modbus_tcp":
        raise MeterError("unsupported_protocol", False, protocol)
    try:
        rmap = register_map(model)
    except RegisterMapError as exc:
        raise MeterError("unknown_model", False, str(exc)) from exc
    if clock is None:
        return ModbusHeatMeter(host, port, unit_id, rmap, timeout=timeout)
    return ModbusHeatMeter(host, port, unit_id, rmap, timeout=timeout, clock=clock)
