import pytest

from tests.identity.helpers import Clock


@pytest.fixture
def clock(monkeypatch):
    """The identity app's clock, moved by the test (lockout windows, re-auth age, sessions)."""
    moved = Clock()
    monkeypatch.setattr("apps.identity.clock.now", moved.now)
    return moved
