"""The per-reading ingest path: the specification.

Every reading is validated against its predecessor by ``validation.validate_reading``; reasons,
rebasing and ``RejectedReading`` rows come from this one rule. ``ingest_readings`` sends a meter
here when a reading of it is rejected, duplicate or out of order, and every meter with
``reference=True``; the tests check the vectorised path stores identical rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import astuple
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from apps.heat.buckets import Sums, day_bucket, hour_bucket, interval_pieces
from apps.heat.meters import MeterReading, register_map
from apps.heat.models import MeterState, QualityFlag, RejectedReading
from apps.heat.validation import Previous, validate_reading

from .records import STATE_FIELDS, IngestResult, MeterInfo, MeterIngest, RawRow, read_at

if TYPE_CHECKING:
    from .batch import Batch

# Rejections after which the register baseline moves to the rejected value, so one glitch or
# an unrecorded meter swap does not make every later reading look impossible too.
REBASING_REASONS = frozenset({"register_backwards", "register_jump"})


def ingest_slow(
    meter: MeterInfo,
    readings: list[MeterReading],
    state_row: dict[str, Any],
    batch: Batch,
    result: IngestResult,
    received_at: datetime,
) -> None:
    state = MeterState(**state_row)
    hourly: dict[tuple[int, datetime], Sums] = defaultdict(Sums)
    daily: dict[tuple[int, datetime], Sums] = defaultdict(Sums)
    out = _ingest_meter(meter, state, readings, received_at, batch.gap, hourly, daily)
    for f in STATE_FIELDS:
        state_row[f] = getattr(state, f)
    batch.touched.append(meter.id)
    batch.raw.extend(astuple(r) for r in out.accepted)
    batch.rejected.extend(out.rejected)
    batch.hourly.add_sums(batch, hourly)
    batch.daily.add_sums(batch, daily)
    result.meters[meter.id] = out


def _ingest_meter(
    meter: MeterInfo,
    state: MeterState,
    readings: Sequence[MeterReading],
    received_at: datetime,
    gap: timedelta,
    hourly: dict[tuple[int, datetime], Sums],
    daily: dict[tuple[int, datetime], Sums],
) -> MeterIngest:
    rmap = register_map(meter.model)
    tz = meter.tzinfo
    contract = meter.contract_min_supply_c
    out = MeterIngest(meter.id)
    for reading in sorted(readings, key=read_at):
        if state.last_ts is not None and reading.read_at <= state.last_ts:
            if reading.read_at == state.last_ts:
                out.duplicates += 1
                continue
            out.rejected.append(_rejection(meter, reading, received_at, "out_of_order", ""))
            continue
        previous = None
        if state.last_ts is not None:
            previous = Previous(
                ts=state.last_ts,
                power_kw=state.last_power_kw or 0.0,
                register_kwh=state.register_baseline_kwh or 0.0,
                register_since=state.register_changed_at,
            )
        verdict = validate_reading(
            reading, previous=previous, rollover_kwh=rmap.rollover_kwh, flow_at=rmap.flow_at
        )
        if not verdict.ok:
            out.rejected.append(
                _rejection(meter, reading, received_at, verdict.reason, verdict.detail)
            )
            state.status = MeterState.Status.REJECTING
            state.last_error = f"{verdict.reason}: {verdict.detail}"[:300]
            if verdict.reason in REBASING_REASONS:
                state.register_baseline_kwh = reading.energy_kwh
                state.register_changed_at = reading.read_at
                state.rebased = True
            continue
        flags = 0
        if previous is None:
            flags |= QualityFlag.FIRST
            cumulative = reading.energy_kwh
        else:
            cumulative = (state.last_energy_kwh or 0.0) + verdict.delta_kwh
        if verdict.rollover:
            flags |= QualityFlag.ROLLOVER
        if reading.status:
            flags |= QualityFlag.METER_STATUS
        if state.rebased:
            flags |= QualityFlag.REBASED
        row = RawRow(
            meter_id=meter.id,
            ts=reading.read_at,
            supply_c=reading.supply_c,
            return_c=reading.return_c,
            flow_m3h=reading.flow_m3h,
            power_kw=reading.power_kw,
            energy_register_kwh=reading.energy_kwh,
            energy_kwh=cumulative,
            status=reading.status,
            flags=flags,
        )
        if previous is not None:
            if reading.read_at - previous.ts > gap:
                row.flags |= QualityFlag.AFTER_GAP
            else:
                supply_ok = (state.last_supply_c or 0.0) >= contract
                for key_bucket, target in (
                    (hour_bucket, hourly),
                    (lambda ts: day_bucket(ts, tz), daily),
                ):
                    for start, seconds, kwh in interval_pieces(
                        previous.ts,
                        previous.power_kw,
                        reading.read_at,
                        reading.power_kw,
                        key_bucket,
                    ):
                        target[(meter.id, start)].add_piece(seconds, kwh, supply_ok)
        hourly[(meter.id, hour_bucket(reading.read_at)[0])].add_reading(row, verdict.delta_kwh)
        daily[(meter.id, day_bucket(reading.read_at, tz)[0])].add_reading(row, verdict.delta_kwh)
        out.accepted.append(row)
        if verdict.delta_kwh or state.register_changed_at is None:
            state.register_changed_at = reading.read_at
        state.last_ts = reading.read_at
        state.last_supply_c = reading.supply_c
        state.last_return_c = reading.return_c
        state.last_flow_m3h = reading.flow_m3h
        state.last_power_kw = reading.power_kw
        state.last_energy_kwh = cumulative
        state.register_baseline_kwh = reading.energy_kwh
        state.rebased = False
        state.status = MeterState.Status.OK
        state.last_error = ""
    return out


def _rejection(
    meter: MeterInfo, reading: MeterReading, received_at: datetime, reason: str, detail: str
) -> RejectedReading:
    return RejectedReading(
        meter_id=meter.id,
        ts=reading.read_at,
        received_at=received_at,
        reason=reason,
        detail=detail[:300],
        values={
            "supply_c": reading.supply_c,
            "return_c": reading.return_c,
            "flow_m3h": reading.flow_m3h,
            "power_kw": reading.power_kw,
            "energy_kwh": reading.energy_kwh,
            "status": reading.status,
        },
    )
