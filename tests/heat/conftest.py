"""Fixtures for heat tests: a partner site in Paris, meters, and a lab meter farm."""

from datetime import UTC, datetime

import pytest

from apps.lab.meters import MeterFarm, SimClock
from apps.sites.models import HeatMeter, Organisation, Site


@pytest.fixture
def site(db):
    partner = Organisation.objects.create(name="Chaleur de Lyon", kind="partner")
    return Site.objects.create(
        code="lyon-1", name="Lyon 1", partner=partner, contract_min_supply_c=65,
        timezone="Europe/Paris",
    )  # fmt: skip


@pytest.fixture
def make_meter(site):
    def make(serial="HM-1", **kwargs):
        kwargs.setdefault("host", "127.0.0.1")
        return HeatMeter.objects.create(site=site, serial=serial, **kwargs)

    return make


@pytest.fixture
def clock():
    """Stopped simulated clock at a Paris-winter 01:00 UTC; tests advance it."""
    return SimClock(datetime(2026, 1, 14, 23, 0, tzinfo=UTC), speed=0)


@pytest.fixture
def farm(clock):
    with MeterFarm(clock) as f:
        yield f
