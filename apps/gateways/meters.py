"""Heat meters of gateway sites: the gateway reads them on its own clock, central stores them.

`meter_poll_send` sends each gateway its sites' meter list and the poll interval every sweep
(one sealed call per gateway, expiring after a minute) and returns the other meters to be polled
here. The gateway keeps the list, reads the meters itself, spools the readings on disk and
uploads them oldest first (`agent_meters`); `meter_readings_receive` stores a batch with the
times the gateway read them, for that gateway's own sites' meters only, and acknowledges it.
Storing is idempotent: a reading already stored (same meter and read time, the unique key of
`heat.Reading`) is skipped, so a batch sent twice is stored once. `meter_poll_answer` takes the
answers of gateways from before the spool (version 1.0: they read when asked).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.gateways import dispatch, services, wire
from apps.gateways.models import Gateway, GatewayCall, GatewaySite
from apps.heat.meters import MeterError, MeterReading
from apps.heat.models import Reading, RejectedReading
from apps.ops import metrics
from apps.sites.models import HeatMeter, Site

logger = logging.getLogger(__name__)
POLL_EXPIRES = timedelta(seconds=60)
ACK_EXPIRES = timedelta(days=1)  # an acknowledgement is worth having whenever it arrives
_FIELDS = ("protocol", "host", "port", "unit_id", "model")


def meter_poll_send(meter_ids: list[int]) -> list[int]:
    """Sends each gateway whose sites have meters among ``meter_ids`` its whole meter list (the
    gateway replaces its list with it: a sweep batch may hold only some of its meters); returns
    the ids to poll here."""
    meters = list(HeatMeter.objects.filter(id__in=meter_ids).only("id", "site_id", *_FIELDS))
    routed = services.gateways_for_sites({m.site_id for m in meters})
    if not routed:
        return list(meter_ids)
    local, by_gateway = [], {}
    for meter in meters:
        gateway = routed.get(meter.site_id)
        if gateway is None:
            local.append(meter.pk)
        else:
            by_gateway.setdefault(gateway.pk, gateway)
    now = timezone.now()
    for gateway in by_gateway.values():
        own = (
            HeatMeter.objects.filter(site__gateway_link__gateway=gateway, removed_at__isnull=True)
            .exclude(site__status=Site.Status.DECOMMISSIONED)
            .order_by("id")
            .only("id", *_FIELDS)
        )
        call = GatewayCall.objects.create(
            gateway=gateway,
            kind="meter_poll",
            sent_at=now,
            start_by=now + POLL_EXPIRES,
            deadline=now + POLL_EXPIRES,
        )
        plain = [{"meter_id": m.pk, **{f: getattr(m, f) for f in _FIELDS}} for m in own]
        message = {
            "call_id": str(call.pk),
            "gateway": gateway.name,
            "start_by": call.start_by.timestamp(),
            "sealed": services.seal_for(
                gateway, str(call.pk), {"meters": plain, "interval": settings.METER_POLL_INTERVAL}
            ),
        }
        try:
            dispatch.gateway_send(
                gateway.name, wire.METER_POLL_TASK, message, expires=call.start_by
            )
        except Exception:
            logger.exception("meter poll not sent to gateway %s", gateway)
            GatewayCall.objects.filter(pk=call.pk).update(status=GatewayCall.Status.EXPIRED)
    return local


class _Answered:
    """A meter "driver" that gives what the gateway read (or the error it met)."""

    def __init__(self, item: dict[str, Any] | None):
        self.item = item

    def read(self) -> MeterReading:
        item = self.item
        if item is None:
            raise MeterError("gateway", True, "the gateway sent nothing for this meter")
        if not item.get("ok"):
            raise MeterError(
                str(item.get("cause") or "gateway"),
                bool(item.get("transient", True)),
                str(item.get("detail") or ""),
            )
        reading = dict(item["reading"])
        reading["read_at"] = datetime.fromisoformat(reading["read_at"])
        return MeterReading(**reading)

    def close(self) -> None:
        return None


def meter_poll_answer(gateway, call_id: str, payload: dict[str, Any]) -> str:
    """Stores a gateway's meter readings (its own open call, its own sites' meters only)."""
    from apps.heat.polling import heat_poll_and_broadcast

    if not services.answer_claim(gateway, call_id, "meter_poll", "meter poll"):
        return "refused"
    items = {int(i["meter_id"]): i for i in payload.get("meters", []) if "meter_id" in i}
    own_sites = GatewaySite.objects.filter(gateway=gateway).values_list("site_id", flat=True)
    ids = list(
        HeatMeter.objects.filter(id__in=list(items), site_id__in=list(own_sites)).values_list(
            "id", flat=True
        )
    )
    if ids:
        heat_poll_and_broadcast(
            ids, driver_factory=lambda meter, _t: _Answered(items.get(meter.pk))
        )
    return "stored"


class _Given:
    """A meter "driver" that gives a reading the gateway spooled, or the error it meets now."""

    def __init__(self, reading: MeterReading | None, failure: dict[str, Any] | None):
        self.reading, self.failure = reading, failure

    def read(self) -> MeterReading:
        if self.failure is not None or self.reading is None:
            return _Answered({"ok": False, **(self.failure or {})}).read()
        return self.reading

    def close(self) -> None:
        return None


_NUMBERS = ("supply_c", "return_c", "flow_m3h", "power_kw", "energy_kwh")


def _reading(values: Any) -> MeterReading:
    """A spooled reading as the gateway sent it; ValueError/TypeError/KeyError if it is not one
    (checked here: a batch that failed in the ingest would come back for ever)."""
    read_at = datetime.fromisoformat(values["read_at"])
    if read_at.tzinfo is None:
        raise ValueError("naive read time")
    numbers = {name: float(values[name]) for name in _NUMBERS}
    return MeterReading(**numbers, read_at=read_at, status=int(values.get("status", 0)))


def _unstored(readings: dict[int, list[MeterReading]]) -> dict[int, list[MeterReading]]:
    """The readings not stored yet (a batch sent again, an acknowledgement lost), by meter in
    read order, each read time once."""
    times = [r.read_at for rs in readings.values() for r in rs]
    if not times:
        return {}
    # a reading judged already (stored, or rejected by validation) is not judged again
    stored: set[tuple[int, datetime]] = set()
    for model in (Reading, RejectedReading):
        stored.update(
            model.objects.filter(
                meter_id__in=list(readings), ts__gte=min(times), ts__lte=max(times)
            ).values_list("meter_id", "ts")
        )
    fresh = {
        m: sorted(
            {r.read_at: r for r in rs if (m, r.read_at) not in stored}.values(),
            key=lambda r: r.read_at,
        )
        for m, rs in readings.items()
    }
    return {m: rs for m, rs in fresh.items() if rs}


def meter_readings_receive(gateway: Gateway, payload: dict[str, Any]) -> str:
    """Stores a batch of a gateway's spooled readings (its own sites' meters only, each reading
    once) and acknowledges it, so the readings leave the gateway's spool.

    A meter's readings before its last one in the batch go straight to `heat.ingest` (in read
    order, after what is stored: no gap, rollups built as for any reading); its last one, or
    the error a meter failing now gave, goes through `heat_poll_and_broadcast` as a local poll
    would (meter state, live events, alarms). A meter never read stays unread: its gap stays.
    """
    from apps.heat.ingest import ingest_readings
    from apps.heat.polling import heat_poll_and_broadcast

    entries, failing = payload.get("readings") or [], payload.get("failing") or {}
    if not isinstance(entries, list) or not isinstance(failing, dict):
        audit_record(
            actor=None,
            action="gateway.answer",
            target=gateway,
            result=AuditEvent.Result.REFUSED,
            detail={"reason": "not a batch of readings"},
        )
        return "refused"
    seqs, parsed = [], {}
    for entry in entries:
        try:
            seqs.append(int(entry["seq"]))
            parsed.setdefault(int(entry["meter_id"]), []).append(_reading(entry["reading"]))
        except (KeyError, TypeError, ValueError) as error:
            # acknowledged with the rest: sending it again would not make it readable
            logger.warning("gateway %s: an unreadable spooled reading skipped (%s)", gateway, error)
    failures = {int(k): v for k, v in failing.items() if str(k).isdigit() and isinstance(v, dict)}
    own_sites = GatewaySite.objects.filter(gateway=gateway).values_list("site_id", flat=True)
    own = set(
        HeatMeter.objects.filter(
            id__in=set(parsed) | set(failures),
            site_id__in=list(own_sites),
            removed_at__isnull=True,
        ).values_list("id", flat=True)
    )
    with transaction.atomic():
        # one batch of a gateway at a time: a batch sent again while the first is being stored
        # waits, then finds its readings stored (rather than judging them out of order)
        Gateway.objects.select_for_update().filter(pk=gateway.pk).first()
        fresh = _unstored({m: rs for m, rs in parsed.items() if m in own})
        last = {m: rs[-1] for m, rs in fresh.items() if m not in failures}
        earlier = {m: rs if m in failures else rs[:-1] for m, rs in fresh.items()}
        earlier = {m: rs for m, rs in earlier.items() if rs}
        if earlier:
            ingest_readings(earlier)
        polled = sorted(set(last) | (set(failures) & own))
        if polled:
            heat_poll_and_broadcast(
                polled,
                driver_factory=lambda meter, _t: _Given(last.get(meter.pk), failures.get(meter.pk)),
            )
        if payload.get("meter_list"):
            _list_answered(gateway, str(payload["meter_list"]))
        if seqs:
            upto = max(seqs)
            transaction.on_commit(lambda: _ack_send(gateway, upto))  # stored first
    stored = sum(len(rs) for rs in fresh.values())
    metrics.GATEWAY_SPOOL.labels(gateway.name, "received").inc(len(seqs))
    logger.info(
        "gateway %s: %d spooled readings, %d new, %d meters failing",
        gateway,
        len(seqs),
        stored,
        len(failures),
    )
    return "stored"


def _list_answered(gateway: Gateway, call_id: str) -> None:
    try:
        uuid.UUID(call_id)
    except ValueError:
        return
    GatewayCall.objects.filter(
        pk=call_id, gateway=gateway, kind="meter_poll", answered_at__isnull=True
    ).update(answered_at=timezone.now(), status=GatewayCall.Status.ANSWERED)


def _ack_send(gateway: Gateway, upto: int) -> None:
    try:
        dispatch.gateway_send(
            gateway.name,
            wire.SPOOL_ACK_TASK,
            {"gateway": gateway.name, "upto": upto},
            expires=timezone.now() + ACK_EXPIRES,
        )
    except Exception:
        # the gateway sends the batch again after its wait; it is stored once
        logger.exception("acknowledgement of readings up to %s not sent to %s", upto, gateway)


def spool_report_store(gateway: Gateway, report: Any) -> None:
    """What a heartbeat says of the gateway's spool: readings waiting, dropped, the oldest."""
    if not isinstance(report, dict):
        return
    try:
        depth, dropped = int(report.get("depth", 0)), int(report.get("dropped", 0))
        oldest = datetime.fromisoformat(report["oldest"]) if report.get("oldest") else None
    except (TypeError, ValueError):
        return
    Gateway.objects.filter(pk=gateway.pk).update(
        spool_depth=max(depth, 0),
        spool_dropped=max(dropped, 0),
        spool_oldest_at=oldest if oldest is None or oldest.tzinfo else None,
    )
