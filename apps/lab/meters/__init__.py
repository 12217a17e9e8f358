"""Simulated heat meters for the demo and the tests (see simulation.py and server.py)."""

from .server import LabMeter, MeterFarm
from .simulation import MeterValues, SimClock, SimulatedMeter

__all__ = ["LabMeter", "MeterFarm", "MeterValues", "SimClock", "SimulatedMeter"]
