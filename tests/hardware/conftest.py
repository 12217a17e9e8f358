"""Lab BMCs on free ports for the hardware tests (real UDP on 127.0.0.1)."""

import pytest

from apps.hardware.drivers import ipmi
from apps.lab.bmc import LabBmcServer


@pytest.fixture
def lab():
    """Four lab BMCs, powered on, admin/password; cached sessions are dropped afterwards."""
    with LabBmcServer(count=4) as server:
        yield server
        ipmi.close_all()


@pytest.fixture
def make_lab():
    """Factory for labs with custom settings (all stopped at teardown)."""
    servers = []

    def make(**options):
        server = LabBmcServer(**options).start()
        servers.append(server)
        return server

    yield make
    ipmi.close_all()
    for server in servers:
        server.stop()
