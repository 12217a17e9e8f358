"""The vectorised ingest path: numpy over a whole batch of meters whose readings all validate.

``validation.batch_valid`` applies the checks of ``validate_reading`` to arrays; cumulative
energy, gap flags, bucket splits and per-bucket sums follow the per-reading path's arithmetic
(``reference``), and the tests check both store identical rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from apps.heat import validation
from apps.heat.meters import MeterReading, register_map
from apps.heat.models import MeterState, QualityFlag

from .records import KEY_SHIFT, US, IngestResult, MeterInfo, MeterIngest, RawRow, to_us

if TYPE_CHECKING:
    from .batch import Batch


def ingest_fast(
    items: list[tuple[MeterInfo, list[MeterReading], dict[str, Any]]],
    batch: Batch,
    result: IngestResult,
) -> list[tuple[MeterInfo, list[MeterReading], dict[str, Any]]]:
    """Ingest meters whose readings all validate; return the others for the per-reading path.

    Arrays hold all readings of all meters, meter after meter, each meter's in time order
    (a "segment"); a reading's predecessor is the one before it, or the meter's stored state
    at a segment's start.
    """
    if not items:
        return []
    seg_len = np.array([len(rs) for _, rs, _ in items])
    n = int(seg_len.sum())
    seg_start = np.concatenate(([0], np.cumsum(seg_len)[:-1]))
    seg_end = seg_start + seg_len - 1
    seg_of = np.repeat(np.arange(len(items)), seg_len)
    flat = [r for _, rs, _ in items for r in rs]
    ts = np.fromiter((to_us(r.read_at) for r in flat), np.int64, n)
    supply = np.fromiter((r.supply_c for r in flat), float, n)
    ret = np.fromiter((r.return_c for r in flat), float, n)
    flow = np.fromiter((r.flow_m3h for r in flat), float, n)
    power = np.fromiter((r.power_kw for r in flat), float, n)
    register = np.fromiter((r.energy_kwh for r in flat), float, n)
    status = np.fromiter((r.status for r in flat), np.int64, n)

    maps = [register_map(m.model) for m, _, _ in items]
    states = [s for _, _, s in items]
    st_has = np.array([s["last_ts"] is not None for s in states])
    st_ts = np.array([to_us(s["last_ts"]) if s["last_ts"] else 0 for s in states], np.int64)
    st_since = np.array(
        [to_us(s["register_changed_at"] or s["last_ts"]) if s["last_ts"] else 0 for s in states],
        np.int64,
    )
    st_rc_known = np.array([s["register_changed_at"] is not None for s in states])

    def shifted(values: np.ndarray, at_start: Any) -> np.ndarray:
        out = np.empty_like(values)
        out[1:] = values[:-1]
        out[seg_start] = at_start
        return out

    has_prev = np.ones(n, bool)
    has_prev[seg_start] = st_has
    prev_ts = shifted(ts, st_ts)
    prev_power = shifted(power, [s["last_power_kw"] or 0.0 for s in states])
    prev_register = shifted(register, [s["register_baseline_kwh"] or 0.0 for s in states])
    prev_supply = shifted(supply, [s["last_supply_c"] or 0.0 for s in states])
    # When the predecessor's register last changed: the state's stamp at a segment start,
    # else the latest earlier reading of the segment whose register moved.
    changed = ~has_prev | (register != prev_register)
    changed[seg_start] |= ~st_rc_known
    marker = np.zeros(n, bool)
    marker[1:] = changed[:-1]
    marker[seg_start] = True
    since_value = shifted(ts, st_since)
    idx = np.maximum.accumulate(np.where(marker, np.arange(n), -1))
    prev_since = since_value[idx]

    verdict = validation.batch_valid(
        supply_c=supply,
        return_c=ret,
        flow_m3h=flow,
        power_kw=power,
        register_kwh=register,
        ts_us=ts,
        rollover_kwh=np.array([m.rollover_kwh for m in maps])[seg_of],
        flow_at_supply=np.array([m.flow_at == "supply" for m in maps])[seg_of],
        has_previous=has_prev,
        previous_ts_us=prev_ts,
        previous_power_kw=prev_power,
        previous_register_kwh=prev_register,
        previous_since_us=np.where(has_prev, prev_since, 0),
    )
    seg_ok = np.logical_and.reduceat(verdict.ok, seg_start)
    if not seg_ok.all():
        # Rare: re-run the clean meters alone, hand the others to the per-reading path.
        good = [item for item, ok in zip(items, seg_ok, strict=True) if ok]
        bad = [item for item, ok in zip(items, seg_ok, strict=True) if not ok]
        return bad + ingest_fast(good, batch, result)

    delta = verdict.delta_kwh
    cumulative = np.empty(n)
    st_cum = np.array([s["last_energy_kwh"] or 0.0 for s in states])
    cumulative[seg_start] = np.where(st_has, st_cum + delta[seg_start], register[seg_start])
    for s, e in zip(seg_start[seg_len > 1], seg_end[seg_len > 1], strict=True):
        # Sequential sums, as the per-reading path adds them (numpy's accumulate is sequential).
        cumulative[s : e + 1] = np.add.accumulate(
            np.concatenate(([cumulative[s]], delta[s + 1 : e + 1]))
        )
    after_gap = has_prev & (ts - prev_ts > batch.gap_us)
    flags = np.where(~has_prev, int(QualityFlag.FIRST), 0)
    flags |= np.where(verdict.rollover, int(QualityFlag.ROLLOVER), 0)
    flags |= np.where(status != 0, int(QualityFlag.METER_STATUS), 0)
    flags |= np.where(after_gap, int(QualityFlag.AFTER_GAP), 0)
    st_rebased = np.array([bool(s["rebased"]) for s in states])
    flags[seg_start] |= np.where(st_rebased, int(QualityFlag.REBASED), 0)

    meter_ids = [m.id for m, _, _ in items]
    mids = np.array(meter_ids)[seg_of].tolist()
    rows = list(
        zip(
            mids,
            (r.read_at for r in flat),
            supply.tolist(),
            ret.tolist(),
            flow.tolist(),
            power.tolist(),
            register.tolist(),
            cumulative.tolist(),
            status.tolist(),
            flags.tolist(),
            strict=True,
        )
    )
    batch.raw.extend(rows)
    for i, (meter, _, state) in enumerate(items):
        out = MeterIngest(meter.id, [RawRow(*r) for r in rows[seg_start[i] : seg_end[i] + 1]])
        result.meters[meter.id] = out
        s, e = int(seg_start[i]), int(seg_end[i])
        moved = np.flatnonzero(changed[s : e + 1])
        state.update(
            status=MeterState.Status.OK,
            last_ts=flat[e].read_at,
            last_supply_c=flat[e].supply_c,
            last_return_c=flat[e].return_c,
            last_flow_m3h=flat[e].flow_m3h,
            last_power_kw=flat[e].power_kw,
            last_energy_kwh=float(cumulative[e]),
            register_baseline_kwh=flat[e].energy_kwh,
            rebased=False,
            last_error="",
        )
        if len(moved):
            state["register_changed_at"] = flat[s + int(moved[-1])].read_at
        batch.touched.append(meter.id)

    pos = np.array([batch.position[m] for m in meter_ids])[seg_of]
    contract = np.array([m.contract_min_supply_c for m, _, _ in items])[seg_of]
    tz_index = np.array([batch.tz_index(m) for m, _, _ in items])[seg_of]
    covered = has_prev & ~after_gap
    lo = int(min(ts.min(), prev_ts[covered].min(initial=ts.min())))
    batch.prepare_days(lo, int(ts.max()))
    for level in (batch.hourly, batch.daily):
        start, _ = level.bucket(ts, tz_index)
        level.add_readings(
            key=(pos << KEY_SHIFT) | (start // US),
            ts=ts,
            register=register,
            cumulative=cumulative,
            energy=delta,
            supply=supply,
            ret=ret,
            flow=flow,
            power=power,
        )
        level.add_intervals(
            batch,
            pos=pos[covered],
            t0=prev_ts[covered],
            t1=ts[covered],
            p0=prev_power[covered],
            p1=power[covered],
            supply_ok=prev_supply[covered] >= contract[covered],
            tz_index=tz_index[covered],
        )
    return []
