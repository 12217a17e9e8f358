"""Simulated BMCs speaking IPMI 2.0 / RMCP+ over UDP on 127.0.0.1 (see `server` and `node`)."""

from apps.lab.bmc.node import Faults, LabBmc
from apps.lab.bmc.server import LabBmcServer

__all__ = ["Faults", "LabBmc", "LabBmcServer"]
