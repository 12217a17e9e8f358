"""DMTF's Redfish-Protocol-Validator (``rf_protocol_validator``), confined to loopback.

The validator also looks for services with SSDP: M-SEARCH multicasts to 239.255.255.250 and
ff02::c. Tests send nothing off this machine, so before running the validator's own command line
(with this script's arguments) SSDP discovery finds nothing, and any connection or datagram to
an address outside loopback is refused.
"""

from __future__ import annotations

import ipaddress
import socket
import sys

from redfish_protocol_validator import console_scripts, utils

_Socket = socket.socket


def _loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class LoopbackSocket(_Socket):
    """A socket that reaches loopback addresses only."""

    def _check(self, address) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
            raise OSError(f"refused: {address!r} is not a loopback address (tests stay local)")

    def connect(self, address):
        self._check(address)
        return super().connect(address)

    def connect_ex(self, address):
        self._check(address)
        return super().connect_ex(address)

    def sendto(self, data, *args):
        self._check(args[-1])
        return super().sendto(data, *args)


def main() -> None:
    socket.socket = LoopbackSocket  # type: ignore[misc]
    utils.discover_ssdp = lambda **_: {}
    sys.argv = ["rf_protocol_validator", *sys.argv[1:]]
    console_scripts.main()


if __name__ == "__main__":
    main()
