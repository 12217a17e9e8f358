"""Readings into storage: ``ingest_readings`` (validate, store, roll up).

``ingest_readings`` is the only way readings enter storage. Per meter it locks the meter's
state row, validates each reading against its predecessor, stores accepted readings in bulk
(COPY on PostgreSQL, multi-row INSERT elsewhere), records rejected ones with the reason, and
folds everything into the hourly and daily rollups in the same transaction, so rollups and raw
rows can never disagree.

The rooms: ``reference`` (the per-reading path, the specification), ``vectorised`` (numpy over
a whole batch), ``batch`` (what one call writes, merged per bucket), ``writers`` (the SQL),
``records`` (the rows and results they share). ``apps.heat.polling`` feeds it from the meters.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.heat.buckets import max_gap_s
from apps.heat.meters import MeterReading
from apps.heat.models import MeterState
from apps.ops import metrics
from apps.sites.models import HeatMeter, Site

from .batch import Batch
from .records import STATE_FIELDS, IngestError, IngestResult, MeterInfo, MeterIngest, read_at
from .reference import ingest_slow
from .vectorised import ingest_fast

__all__ = ["IngestError", "IngestResult", "MeterIngest", "ingest_readings"]


def ingest_readings(
    readings_by_meter: Mapping[int, Sequence[MeterReading]],
    *,
    received_at: datetime | None = None,
    gap_s: float | None = None,
    reference: bool = False,
) -> IngestResult:
    """Validate and store readings, keyed by meter id, maintaining rollups and meter state.

    Readings not newer than a meter's last accepted reading are skipped as duplicates when
    equal in time and rejected as ``out_of_order`` when older. Returns per-meter results.

    Two paths give the same result. A meter whose readings are all newer than its last one
    and all pass validation goes through the vectorised path (numpy over the whole batch:
    validation, cumulative energy, bucket splits, per-bucket sums). Any other meter (a
    rejection, a duplicate, out of order) goes through the per-reading path, which is the
    specification: ``reference=True`` sends every meter through it, and the tests check that
    both paths store identical rows.
    """
    received_at = received_at or timezone.now()
    gap = timedelta(seconds=max_gap_s() if gap_s is None else gap_s)
    meter_ids = sorted(readings_by_meter)
    result = IngestResult()
    if not meter_ids:
        return result
    with transaction.atomic():
        infos = _meter_infos(meter_ids)
        states = _lock_states(meter_ids)
        batch = Batch(meter_ids, infos, gap)
        fast: list[tuple[MeterInfo, list[MeterReading], dict[str, Any]]] = []
        slow: list[tuple[MeterInfo, list[MeterReading], dict[str, Any]]] = []
        for mid in meter_ids:
            meter, state = infos[mid], states[mid]
            readings = list(readings_by_meter[mid])
            for reading in readings:
                if reading.read_at.tzinfo is None:
                    raise IngestError(f"meter {meter.serial}: naive timestamp {reading.read_at}")
            if not readings:
                result.meters[mid] = MeterIngest(mid)
                continue
            readings.sort(key=read_at)
            last = state["last_ts"]
            increasing = all(a.read_at < b.read_at for a, b in itertools.pairwise(readings))
            if not reference and increasing and (last is None or readings[0].read_at > last):
                fast.append((meter, readings, state))
            else:
                slow.append((meter, readings, state))
        slow += ingest_fast(fast, batch, result)
        for meter, readings, state in slow:
            ingest_slow(meter, readings, state, batch, result, received_at)
        batch.write(states)
    metrics.READINGS_INGESTED.inc(sum(len(m.accepted) for m in result.meters.values()))
    return result


def _meter_infos(meter_ids: list[int]) -> dict[int, MeterInfo]:
    rows: Iterable[Sequence[Any]]
    if connection.vendor == "postgresql":
        # One array parameter instead of 1000 placeholders: binding those costs more than
        # the query itself.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT m.id, m.serial, m.model, m.site_id, s.timezone, "  # noqa: S608
                "s.contract_min_supply_c "
                f"FROM {HeatMeter._meta.db_table} m JOIN {Site._meta.db_table} s "
                "ON s.id = m.site_id WHERE m.id = ANY(%s)",
                [meter_ids],
            )
            rows = cursor.fetchall()
    else:
        rows = HeatMeter.objects.filter(id__in=meter_ids).values_list(
            "id", "serial", "model", "site_id", "site__timezone", "site__contract_min_supply_c"
        )
    infos = {r[0]: MeterInfo(*r[:5], float(r[5])) for r in rows}
    missing = set(meter_ids) - set(infos)
    if missing:
        raise IngestError(f"unknown meter ids {sorted(missing)}")
    return infos


def _lock_states(meter_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Create missing state rows, then lock all of them in id order.

    Locking serialises concurrent ingests per meter: each validates against the predecessor
    the other stored.
    """
    cols = ("meter_id", *STATE_FIELDS)

    def locked() -> dict[int, dict[str, Any]]:
        rows: Iterable[Sequence[Any]]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {', '.join(cols)} FROM {MeterState._meta.db_table} "  # noqa: S608
                    "WHERE meter_id = ANY(%s) ORDER BY meter_id FOR UPDATE",
                    [meter_ids],
                )
                rows = cursor.fetchall()
        else:
            qs = MeterState.objects.select_for_update().filter(meter_id__in=meter_ids)
            rows = qs.order_by("meter_id").values_list(*cols)
        return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}

    states = locked()
    if len(states) < len(meter_ids):
        MeterState.objects.bulk_create(
            [MeterState(meter_id=mid) for mid in meter_ids if mid not in states],
            ignore_conflicts=True,
        )
        states = locked()
    return states
