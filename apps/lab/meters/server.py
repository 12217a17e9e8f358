"""Serve simulated heat meters over Modbus TCP on loopback (pymodbus server).

One :class:`MeterFarm` runs one asyncio loop in a background thread and one pymodbus TCP server
*per meter*, each on its own port (consecutive ports from the management command), answering
the meter's unit id. A port per meter is what a fleet of real meters looks like to the poller
and lets one meter go offline without touching the others.

Registers are computed when they are read (a pymodbus ``SimDevice`` action), from the
simulation at the clock's current time, so a reading is always coherent.

Offline modes:

* ``"refuse"`` — the server stops listening and drops its connections: connections are
  refused, as when the meter or its Modbus gateway loses power.
* ``"silent"`` — connections are accepted but requests are never answered, as when a gateway
  hangs; clients hit their timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from .simulation import SimClock, SimulatedMeter

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
SILENCE_S = 60.0  # how long a "silent" meter sits on a request before giving up


@dataclass
class LabMeter:
    """A simulated meter and where it listens."""

    sim: SimulatedMeter
    unit_id: int
    port: int
    host: str = HOST
    offline: str | None = None
    _server: ModbusTcpServer | None = field(default=None, repr=False)
    _wake: asyncio.Event | None = field(default=None, repr=False)


class MeterFarm:
    """Many simulated meters served from one background thread. Use as a context manager."""

    def __init__(self, clock: SimClock | None = None) -> None:
        self.clock = clock or SimClock()
        self.meters: dict[str, LabMeter] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="lab-meters"
        )
        self._thread.start()

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def add(
        self,
        serial: str,
        *,
        port: int = 0,
        unit_id: int = 1,
        model: str = "generic",
        nominal_kw: float = 100.0,
        **sim_options: Any,
    ) -> LabMeter:
        """Create a meter and start serving it; ``port=0`` picks a free port."""
        if serial in self.meters:
            raise ValueError(f"meter {serial} already exists")
        sim = SimulatedMeter(
            serial, clock=self.clock, model=model, nominal_kw=nominal_kw, **sim_options
        )
        meter = LabMeter(sim=sim, unit_id=unit_id, port=port)
        self._run(self._start(meter))
        self.meters[serial] = meter
        return meter

    def __getitem__(self, serial: str) -> LabMeter:
        return self.meters[serial]

    async def _start(self, meter: LabMeter) -> None:
        first, count = meter.sim.register_map.span

        async def action(
            _fc: int,
            start_address: int,
            _address: int,
            _count: int,
            registers: list[int],
            _set_values: list[int] | list[bool] | None,
        ) -> None:
            if meter.offline == "silent" and meter._wake is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(meter._wake.wait(), SILENCE_S)
            block = meter.sim.registers()
            offset = first - start_address
            registers[offset : offset + count] = block

        device = SimDevice(
            id=meter.unit_id,
            simdata=[SimData(first, count=count, values=0, datatype=DataType.REGISTERS)],
            action=action,
        )
        server = ModbusTcpServer(device, address=(meter.host, meter.port))
        await server.serve_forever(background=True)
        meter.port = server.transport.sockets[0].getsockname()[1]
        meter._server = server
        meter._wake = asyncio.Event()

    async def _stop(self, meter: LabMeter) -> None:
        if meter._wake is not None:
            meter._wake.set()
        if meter._server is not None:
            await meter._server.shutdown()
            meter._server = None

    def set_offline(self, serial: str, mode: str | None = "refuse") -> None:
        """Take a meter offline (``"refuse"`` or ``"silent"``), or back online with None."""
        if mode not in (None, "refuse", "silent"):
            raise ValueError(f"unknown offline mode {mode!r}")
        meter = self.meters[serial]
        previous, meter.offline = meter.offline, mode
        if previous == "refuse" and mode != "refuse":
            self._run(self._start(meter))
        elif mode == "refuse" and previous != "refuse":
            self._run(self._stop(meter))
        if mode is None and meter._wake is not None:
            self._loop.call_soon_threadsafe(meter._wake.set)
        elif mode == "silent" and meter._wake is not None:
            self._loop.call_soon_threadsafe(meter._wake.clear)

    def close(self) -> None:
        """Stop every server and the loop thread."""
        if not self._loop.is_running():
            return
        for meter in self.meters.values():
            self._run(self._stop(meter))
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> MeterFarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
