"""Lab BMCs on free ports for the hardware tests (real UDP on 127.0.0.1)."""

import pytest

from apps.hardware import sweep as sweep_module
from apps.hardware.drivers import ipmi
from apps.hardware.sweep import CircuitBreaker
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


@pytest.fixture
def fresh_breaker(monkeypatch, settings):
    """A circuit breaker of this test's own, BMC calls bounded only against a broken run, and
    live events kept in memory."""
    monkeypatch.setattr(sweep_module, "default_breaker", CircuitBreaker(base=60))
    settings.BMC_TIMEOUT = 10.0  # bounds a broken run only; the lab answers in milliseconds
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
