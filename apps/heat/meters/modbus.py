"""Modbus TCP heat-meter adapter (pymodbus synchronous client).

One poll is one connection and one block read of every register in the map, so values are
coherent (read in the same request) and a meter that vanishes cannot leave a half-open
session behind. Every network step is bounded by ``timeout``; pymodbus' own retries are off
because the poller retries on its next cycle instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from .base import MeterError, MeterReading
from .registers import RegisterMap, RegisterMapError


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ModbusHeatMeter:
    """Reads one heat meter (``host:port``, Modbus unit ``unit_id``) with a register map."""

    def __init__(
        self,
        host: str,
        port: int,
        unit_id: int,
        register_map: RegisterMap,
        *,
        timeout: float = 3.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.host = host
        self.port = port
        self.unit_id = unit_id
        self.register_map = register_map
        self.timeout = timeout
        self.clock = clock
        self._client: ModbusTcpClient | None = None

    def _connect(self) -> ModbusTcpClient:
        client = ModbusTcpClient(self.host, port=self.port, timeout=self.timeout, retries=0)
        try:
            connected = client.connect()
        except OSError as exc:
            client.close()
            raise MeterError("unreachable", True, str(exc)) from exc
        if not connected:
            client.close()
            raise MeterError("unreachable", True, f"no connection to {self.host}:{self.port}")
        return client

    def read(self) -> MeterReading:
        """Read every quantity in one request; :class:`MeterError` on any failure."""
        first, count = self.register_map.span
        client = self._client = self._connect()
        try:
            reader = (
                client.read_input_registers
                if self.register_map.table == "input"
                else client.read_holding_registers
            )
            response = reader(first, count=count, device_id=self.unit_id)
            read_at = self.clock()
        except ConnectionException as exc:
            raise MeterError("connection_lost", True, str(exc)) from exc
        except ModbusIOException as exc:
            raise MeterError("timeout", True, str(exc)) from exc
        except (ModbusException, OSError) as exc:
            raise MeterError("protocol_error", True, str(exc)) from exc
        finally:
            self.close()
        if response.isError():
            # An exception response means the map does not fit this meter (wrong address or
            # unit id): retrying will not help until someone fixes the configuration.
            code = getattr(response, "exception_code", "?")
            raise MeterError("modbus_exception", False, f"exception code {code}")
        registers = list(response.registers)
        try:
            values = self.register_map.decode(registers)
        except RegisterMapError as exc:
            raise MeterError("bad_response", True, str(exc)) from exc
        quantities = ("supply_c", "return_c", "flow_m3h", "power_kw", "energy_kwh")
        if any(not math.isfinite(values[q]) for q in quantities):
            # A float32 NaN is what some meters send while a sensor is disconnected.
            raise MeterError("not_a_number", True, "meter returned NaN or infinity")
        return MeterReading(
            supply_c=values["supply_c"],
            return_c=values["return_c"],
            flow_m3h=values["flow_m3h"],
            power_kw=values["power_kw"],
            energy_kwh=values["energy_kwh"],
            status=int(values.get("status", 0)),
            read_at=read_at,
        )

    def close(self) -> None:
        """Close the connection if one is open."""
        if self._client is not None:
            self._client.close()
            self._client = None
