"""A small seeded fleet with hand-computable figures, its rollups made by the real ingestion.

Period under test: local days 2026-03-02 and 2026-03-03 in Paris (UTC+1, no DST change), so
48 h = 172,800 s. Meters are read every 10 minutes; a reading's register increase is its power
times 10 minutes, booked on the day of the reading (docs/heat-storage.md).

* ``steady`` (lyo-0001): 48 kW in the previous two days, 60 kW in the period: 2,880 kWh_th,
  full coverage; one reading at 62 °C (contract 65) on 03-03 12:00 puts 600 s below contract.
  Electricity 1,500 + 1,700 kWh measured, 3 nodes, 80 kW_th nominal.
* ``gappy`` (par-0002): 60 kW, but no reading between 06:00 and 12:00 on 03-02: the register
  still counts (2,880 kWh_th) and the six hours are a gap (coverage 87.5 %). Electricity only
  at nominal, 1,000 kWh on 03-02.
* ``replaced`` (gre-0003): meter A read until 12:00 on 03-02 and removed at 12:00:30; meter B
  (register starting at 50,000 kWh) installed then, read from 12:10. 730 + 2,140 kWh_th; the
  ten minutes 12:00-12:10 are uncovered.
* ``empty`` (hel-0004): another partner, commissioning, no data at all.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from apps.hardware.electrical import electrical_daily_merge
from apps.heat import physics
from apps.heat.ingest import ingest_readings
from apps.heat.meters import MeterReading
from apps.planning.selectors import Period
from apps.sites.models import HeatMeter, Site
from tests.factories import NodeFactory, OrganisationFactory, SiteFactory

STEP = timedelta(minutes=10)
PERIOD = Period(date(2026, 3, 2), date(2026, 3, 4))
DAY1 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # local 2026-03-02 00:00
END = DAY1 + timedelta(days=2)  # local 2026-03-04 00:00
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def reading(ts, energy, power, supply=70.0, ret=40.0):
    flow = physics.flow_for_power_m3h(power, supply, ret)
    return MeterReading(
        supply_c=supply, return_c=ret, flow_m3h=flow, power_kw=power, energy_kwh=energy,
        read_at=ts,
    )  # fmt: skip


def series(start, stop, *, register=0.0, power=lambda ts: 60.0, supply=lambda ts: 70.0,
           skip=lambda ts: False):  # fmt: skip
    """Readings every 10 minutes in [start, stop]; the register grows by power x 10 min."""
    out, ts, first = [], start, True
    while ts <= stop:
        p = power(ts)
        if not first:
            register += p / 6
        first = False
        if not skip(ts):
            out.append(reading(ts, register, p, supply(ts)))
        ts += STEP
    return out


@pytest.fixture(autouse=True)
def ten_minute_gap_limit(settings):
    settings.HEAT_MAX_GAP_S = 900


@pytest.fixture
def fleet(db, ten_minute_gap_limit):
    rcu = OrganisationFactory(name="Chaleur Lyonnaise")
    nord = OrganisationFactory(name="Lämpö Nord")
    common = {"contract_min_supply_c": 65, "timezone": "Europe/Paris", "partner": rcu}
    steady = SiteFactory(
        code="lyo-0001", name="Piscine Lyon", region="Auvergne-Rhône-Alpes",
        heat_network="Réseau Lyon", nominal_capacity_kw=80, latitude=Decimal("45.76"),
        longitude=Decimal("4.83"), **common,
    )  # fmt: skip
    gappy = SiteFactory(
        code="par-0002", name="Lycée Paris", region="Île-de-France", heat_network="Réseau Paris",
        nominal_capacity_kw=40, **common,
    )  # fmt: skip
    replaced = SiteFactory(
        code="gre-0003", name="Gymnase Grenoble", region="Auvergne-Rhône-Alpes",
        heat_network="Réseau Lyon", status=Site.Status.MAINTENANCE, **common,
    )  # fmt: skip
    empty = SiteFactory(
        code="hel-0004", name="Sauna Helsinki", region="Uusimaa", heat_network="Kaukolämpö",
        partner=nord, status=Site.Status.COMMISSIONING, timezone="Europe/Helsinki",
    )  # fmt: skip
    for i in range(3):
        NodeFactory(site=steady, name=f"lyo-0001-n{i}")
    NodeFactory(site=gappy, name="par-0002-n0")

    m_steady = HeatMeter.objects.create(site=steady, serial="HM-STEADY", host="127.0.0.1")
    m_gappy = HeatMeter.objects.create(site=gappy, serial="HM-GAPPY", host="127.0.0.1")
    m_old = HeatMeter.objects.create(
        site=replaced, serial="HM-OLD", host="127.0.0.1",
        removed_at=DAY1 + timedelta(hours=12, seconds=30),
    )  # fmt: skip
    m_new = HeatMeter.objects.create(
        site=replaced, serial="HM-NEW", host="127.0.0.1",
        installed_at=DAY1 + timedelta(hours=12, seconds=30),
    )  # fmt: skip
    noon2 = DAY1 + timedelta(days=1, hours=12)
    gap = (DAY1 + timedelta(hours=6), DAY1 + timedelta(hours=12))
    ingest_readings(
        {
            m_steady.id: series(
                DAY1 - timedelta(days=2), END,
                power=lambda ts: 48.0 if ts < DAY1 else 60.0,
                supply=lambda ts: 62.0 if ts == noon2 else 70.0,
            ),
            m_gappy.id: series(DAY1 - STEP, END, skip=lambda ts: gap[0] < ts < gap[1]),
            m_old.id: series(DAY1 - STEP, DAY1 + timedelta(hours=12)),
            m_new.id: series(DAY1 + timedelta(hours=12, minutes=10), END, register=50_000.0),
        }
    )  # fmt: skip
    d1, d2 = PERIOD.start, PERIOD.start + timedelta(days=1)
    electrical_daily_merge(
        [
            (steady.pk, d1, 1500.0, 0.0, 3 * 86400.0, 0.0),
            (steady.pk, d2, 1700.0, 0.0, 3 * 86400.0, 0.0),
            (gappy.pk, d1, 0.0, 1000.0, 0.0, 86400.0),
        ]
    )
    return {"steady": steady, "gappy": gappy, "replaced": replaced, "empty": empty}
