"""Meter polling: read meters over the network, store their readings, push live events.

``poll_meters`` reads meters concurrently *outside* any transaction, then hands the readings
to ``ingest.ingest_readings``. ``heat_poll_and_broadcast`` (the Celery task's one service)
wraps it, broadcasts the changes once stored and evaluates the sites' alarms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.sites.models import HeatMeter, Site

from . import alarms, live
from .ingest import IngestResult, ingest_readings
from .meters import HeatMeterDriver, MeterError, MeterReading, driver_for
from .models import MeterState


@dataclass
class PollResult:
    """One meter's poll outcome, for the caller to broadcast / alarm on."""

    meter_id: int
    site_id: int
    serial: str
    ok: bool
    reading: MeterReading | None = None
    rejected_reason: str = ""
    error: str = ""
    transient: bool = True
    went_offline: bool = False
    came_back: bool = False


DriverFactory = Callable[[HeatMeter, float], HeatMeterDriver]


def _default_driver(meter: HeatMeter, timeout: float) -> HeatMeterDriver:
    return driver_for(
        protocol=meter.protocol,
        host=meter.host,
        port=meter.port,
        unit_id=meter.unit_id,
        model=meter.model,
        timeout=timeout,
    )


def poll_meters(
    meter_ids: Sequence[int],
    *,
    timeout: float = 3.0,
    max_workers: int = 16,
    clock: Callable[[], datetime] | None = None,
    driver_factory: DriverFactory | None = None,
    gap_s: float | None = None,
) -> list[PollResult]:
    """Read meters concurrently (each bounded by ``timeout``), validate, store; report changes.

    ``clock`` stamps readings (default: now, UTC); the lab passes its simulated clock. The
    whole poll returns within about ``2 x timeout`` however many meters hang.
    """
    factory = driver_factory or _default_driver
    meters = list(HeatMeter.objects.filter(id__in=meter_ids, removed_at__isnull=True))
    if not meters:
        return []

    def read(meter: HeatMeter) -> MeterReading:
        driver = factory(meter, timeout)
        try:
            reading = driver.read()
        finally:
            driver.close()
        if clock is not None:
            reading = MeterReading(**{**reading.__dict__, "read_at": clock()})
        return reading

    outcomes: dict[int, MeterReading | MeterError] = {}
    pool = ThreadPoolExecutor(max_workers=min(max_workers, len(meters)))
    try:
        futures = {pool.submit(read, m): m for m in meters}
        done, _ = wait(futures, timeout=2 * timeout + 1)
        for fut, meter in futures.items():
            if fut not in done:
                outcomes[meter.id] = MeterError("poll_timeout", True, f"no answer in {timeout} s")
                continue
            exc = fut.exception()
            if isinstance(exc, MeterError):
                outcomes[meter.id] = exc
            elif exc is not None:
                outcomes[meter.id] = MeterError("driver_error", True, repr(exc))
            else:
                outcomes[meter.id] = fut.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)

    polled_at = clock() if clock is not None else timezone.now()
    readings = {mid: [r] for mid, r in outcomes.items() if isinstance(r, MeterReading)}
    before = {
        s.meter_id: (s.status, s.offline_since)
        for s in MeterState.objects.filter(meter_id__in=[m.id for m in meters])
    }
    ingest = ingest_readings(readings, gap_s=gap_s) if readings else IngestResult()
    results = []
    with transaction.atomic():
        for meter in meters:
            state, _ = MeterState.objects.select_for_update().get_or_create(meter_id=meter.id)
            was_offline = before.get(meter.id, ("unknown", None))[0] == MeterState.Status.OFFLINE
            outcome = outcomes[meter.id]
            res = PollResult(meter.id, meter.site_id, meter.serial, ok=False)
            state.last_polled_at = polled_at
            if isinstance(outcome, MeterError):
                res.error, res.transient = str(outcome), outcome.transient
                state.consecutive_failures += 1
                state.last_error = str(outcome)[:300]
                if state.status != MeterState.Status.OFFLINE:
                    state.status = MeterState.Status.OFFLINE
                    state.offline_since = polled_at
                    res.went_offline = True
            else:
                mi = ingest.meters.get(meter.id)
                state.consecutive_failures = 0
                state.offline_since = None
                res.came_back = was_offline
                if mi and mi.accepted:
                    res.ok, res.reading = True, outcome
                    state.last_ok_at = polled_at
                elif mi and mi.rejected:
                    res.rejected_reason = mi.rejected[-1].reason
                    res.error = mi.rejected[-1].detail
            state.save()
            results.append(res)
    return results


@dataclass
class PollSummary:
    """What one ``heat_poll_and_broadcast`` call did (for the task's log and the tests)."""

    polled: int = 0
    ok: int = 0
    failed: int = 0
    rejected: int = 0
    sites_broadcast: int = 0
    alarms_raised: int = 0
    alarms_cleared: int = 0


def heat_poll_and_broadcast(
    meter_ids: Sequence[int],
    *,
    timeout: float | None = None,
    clock: Callable[[], datetime] | None = None,
    driver_factory: DriverFactory | None = None,
) -> PollSummary:
    """Poll meters, store their readings, push live events, evaluate the sites' alarms.

    Events (through ``apps.core.realtime.broadcast``, sent once stored):

    * ``heat.reading`` per site with a fresh reading, to ``site.<id>.heat``,
      ``partner.<partner id>.heat`` and ``fleet.heat`` (see :func:`live.site_reading_events`);
    * ``heat.meter_state`` when a meter goes offline or comes back, to ``site.<id>.hardware``
      only (it names the meter and the error: engineering detail).

    ``clock`` is the lab's simulated clock (readings and alarms use it); ``polled_at`` in the
    events is always the wall clock, for latency measurements.
    """
    from apps.core.realtime import broadcast

    polled_at = timezone.now()
    timeout = float(getattr(settings, "METER_TIMEOUT", 3.0)) if timeout is None else timeout
    results = poll_meters(meter_ids, timeout=timeout, clock=clock, driver_factory=driver_factory)
    summary = PollSummary(polled=len(results))
    fresh = {r.meter_id for r in results if r.ok}
    summary.ok = len(fresh)
    summary.failed = sum(1 for r in results if r.error and not r.rejected_reason)
    summary.rejected = sum(1 for r in results if r.rejected_reason)
    site_ids = sorted({r.site_id for r in results})
    partners = dict(Site.objects.filter(id__in=site_ids).values_list("id", "partner_id"))
    events = live.site_reading_events(site_ids, fresh_meter_ids=fresh, polled_at=polled_at)
    for site_id, event in events.items():
        broadcast(f"site.{site_id}.heat", event)
        broadcast(f"partner.{partners[site_id]}.heat", event)
        broadcast("fleet.heat", event)
    summary.sites_broadcast = len(events)
    if events:
        live.totals_broadcast(set(partners.values()))
    for r in results:
        if r.went_offline or r.came_back:
            broadcast(
                f"site.{r.site_id}.hardware",
                {
                    "type": "heat.meter_state",
                    "site_id": r.site_id,
                    "meter_id": r.meter_id,
                    "serial": r.serial,
                    "status": "offline" if r.went_offline else "online",
                    "at": live.utc_iso(clock() if clock else timezone.now()),
                    "error": r.error,
                },
            )
    now = clock() if clock is not None else timezone.now()
    for change in alarms.alarms_evaluate(site_ids, now=now):
        if change.change == "raised":
            summary.alarms_raised += 1
        else:
            summary.alarms_cleared += 1
    return summary
