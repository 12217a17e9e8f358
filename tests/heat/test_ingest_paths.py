"""The vectorised ingestion path stores exactly what the per-reading reference path stores.

Each test ingests the same crafted readings twice, into two identical sites: once through the
fast path (with the reference path made to fail, so it cannot quietly take over) and once with
``reference=True``. Raw rows, hourly and daily rollups and meter states must agree. The suite
runs on SQLite locally and on PostgreSQL in CI (DATABASE_URL), covering both writers.
"""

from datetime import UTC, datetime, timedelta

import pytest

from apps.heat import physics
from apps.heat.ingest import ingest_readings
from apps.heat.meters import MeterReading
from apps.heat.models import DailyRollup, HourlyRollup, MeterState, QualityFlag, Reading
from apps.sites.models import HeatMeter, Organisation, Site

pytestmark = pytest.mark.django_db
SWAP = datetime(2026, 3, 29, 5, 0, tzinfo=UTC)  # the old meter is replaced


def reading(ts, register, power=60.0, supply=70.0, ret=40.0, status=0):
    flow = physics.flow_for_power_m3h(power, supply, ret) if power else 0.0
    return MeterReading(supply, ret, flow, power, register, ts, status)


def old_meter_series():
    """Every 10 min from 21:00 UTC on 28 March across local midnight (23:00 UTC), with
    zero-power readings, supply below the contract, a status bit and a register rollover
    (compact-8digit wraps at 1e8); then an outage of 2 h 45 min (a gap: the limit is 2 h) over
    the DST switch (01:00 UTC), and a covered 90 min interval spanning three UTC hours."""
    t = datetime(2026, 3, 28, 21, 0, tzinfo=UTC)
    register = 99_999_850.0
    rows = []
    for i in range(20):
        power = 0.0 if 6 <= i < 9 else 60.0 + (i % 4) * 5
        supply = 60.0 if 10 <= i < 14 else 70.0
        rows.append(reading(t, register % 1e8, power, supply, status=4 if i == 3 else 0))
        register += power / 6
        t += timedelta(minutes=10)
    t += timedelta(hours=2, minutes=35)
    register += 100
    rows.append(reading(t, register % 1e8))
    t += timedelta(minutes=90)
    register += 90
    rows.append(reading(t, register % 1e8))
    return rows


def new_meter_series():
    t = SWAP + timedelta(minutes=5)
    return [reading(t + timedelta(minutes=10 * i), 5.0 + 10 * i) for i in range(12)]


def make_site(code):
    org = Organisation.objects.create(name=f"Partner {code}")
    site = Site.objects.create(
        code=code, name=code, partner=org, contract_min_supply_c=65, timezone="Europe/Paris"
    )
    old = HeatMeter.objects.create(
        site=site, serial=f"{code}-OLD", host="127.0.0.1", model="compact-8digit", removed_at=SWAP
    )
    new = HeatMeter.objects.create(
        site=site, serial=f"{code}-NEW", host="127.0.0.1", installed_at=SWAP
    )
    return old, new


def snapshot(meter):
    skip = {"id", "meter", "meter_id", "site", "site_id"}

    def rows(qs, order):
        return [
            {k: v for k, v in row.items() if k not in skip} for row in qs.order_by(order).values()
        ]

    return {
        "raw": rows(Reading.objects.filter(meter=meter), "ts"),
        "hourly": rows(HourlyRollup.objects.filter(meter=meter), "bucket_start"),
        "daily": rows(DailyRollup.objects.filter(meter=meter), "bucket_start"),
        "state": rows(MeterState.objects.filter(meter=meter), "meter_id"),
    }


def assert_same(fast, ref):
    assert fast.keys() == ref.keys()
    for table in ref:
        assert len(fast[table]) == len(ref[table]), table
        for got, want in zip(fast[table], ref[table], strict=True):
            assert got.keys() == want.keys()
            for key, value in want.items():
                if isinstance(value, float):
                    assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-9), (table, key)
                else:
                    assert got[key] == value, (table, key, got)


def ingest_in_batches(batches, meters, reference):
    for batch in batches:
        ingest_readings(
            {m.id: rows for m, rows in zip(meters, batch, strict=True)},
            gap_s=7200,
            reference=reference,
        )


def split(rows, sizes):
    out, at = [], 0
    for size in sizes:
        out.append(rows[at : at + size])
        at += size
    out.append(rows[at:])
    return out


def test_fast_and_reference_paths_store_identical_rows(monkeypatch):
    fast_old, fast_new = make_site("fast")
    ref_old, ref_new = make_site("ref")
    old_batches = split(old_meter_series(), [1, 4, 9])
    new_batches = split(new_meter_series(), [0, 3, 5])

    def refuse(*args, **kwargs):
        raise AssertionError("the reference path ran during a fast-path ingest")

    with monkeypatch.context() as patch:
        patch.setattr("apps.heat.ingest.reference._ingest_meter", refuse)
        ingest_in_batches(
            zip(old_batches, new_batches, strict=True), [fast_old, fast_new], reference=False
        )
    ingest_in_batches(
        zip(old_batches, new_batches, strict=True), [ref_old, ref_new], reference=True
    )

    fast, ref = snapshot(fast_old), snapshot(ref_old)
    assert_same(fast, ref)
    assert_same(snapshot(fast_new), snapshot(ref_new))
    # The crafted series really exercises what it claims to.
    flags = [r["flags"] for r in fast["raw"]]
    assert sum(bool(f & QualityFlag.ROLLOVER) for f in flags) == 1
    assert sum(bool(f & QualityFlag.AFTER_GAP) for f in flags) == 1
    assert sum(bool(f & QualityFlag.METER_STATUS) for f in flags) == 1
    assert len(fast["hourly"]) == 7 and len(fast["daily"]) == 2
    # 03:00-04:00 only lies inside the 90 min interval: covered, no reading of its own.
    (inside,) = [h for h in fast["hourly"] if h["readings"] == 0]
    assert inside["covered_s"] == 3600
    assert any(h["supply_below_s"] > 0 for h in fast["hourly"])


def test_a_batch_mixing_clean_and_rejected_meters_matches_the_reference():
    sites = {name: make_site(name) for name in ("fast", "ref")}
    t = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    good = [reading(t + timedelta(minutes=10 * i), 100.0 + 10 * i) for i in range(6)]
    bad = [reading(t + timedelta(minutes=10 * i), 200.0 + 10 * i) for i in range(6)]
    bad[3] = reading(bad[3].read_at, 9_000.0)  # register jump: rejected, then rebased
    bad[4] = reading(bad[4].read_at, 9_010.0)
    bad[5] = reading(bad[5].read_at, 9_020.0)
    bad.append(bad[1])  # the same reading twice in one batch
    for name, reference in (("fast", False), ("ref", True)):
        old, new = sites[name]
        result = ingest_readings({old.id: bad, new.id: good}, gap_s=900, reference=reference)
        assert result.accepted == 11 and result.meters[old.id].duplicates == 1
        assert [r.reason for r in result.meters[old.id].rejected] == ["register_jump"]
        late = ingest_readings(
            {old.id: [bad[0]], new.id: [reading(t + timedelta(hours=1), 160.0)]},
            gap_s=900,
            reference=reference,
        )
        assert [r.reason for r in late.meters[old.id].rejected] == ["out_of_order"]
    for fast, ref in zip(sites["fast"], sites["ref"], strict=True):
        assert_same(snapshot(fast), snapshot(ref))


def test_a_repeated_last_reading_in_a_later_batch_is_a_duplicate_and_changes_nothing(
    make_meter,
):
    meter = make_meter()
    t = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    first = [reading(t, 10.0), reading(t + timedelta(minutes=10), 20.0)]
    ingest_readings({meter.id: first}, gap_s=900)
    again = ingest_readings({meter.id: first[1:]}, gap_s=900)
    assert again.meters[meter.id].duplicates == 1 and again.accepted == 0
    assert Reading.objects.filter(meter=meter).count() == 2
    hour = HourlyRollup.objects.get(meter=meter)
    assert (hour.readings, hour.energy_kwh, hour.covered_s) == (2, 10.0, 600.0)


def test_the_vectorised_heat_coefficient_is_the_physics_one_exactly():
    import numpy as np

    from apps.heat import validation

    supply = np.array([5.0, 37.3, 62.5, 70.0, 88.8, 129.9, 50.0, 0.0])
    ret = np.array([4.0, 20.0, 40.1, 45.0, 60.0, 20.0, 50.0, 0.0])
    for side in ("return", "supply"):
        got = validation.heat_coefficients(supply, ret, np.full(len(supply), side == "supply"))
        want = [
            physics.heat_coefficient(s, r, flow_at=side) for s, r in zip(supply, ret, strict=True)
        ]
        assert got.tolist() == want
