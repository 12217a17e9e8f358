"""Heat-meter polls through site gateways: the gateway reads, the central side stores.

`meter_poll_send` sends the meters of gateway sites to their gateway (one call per gateway,
expiring after a minute: an old poll is worthless) and returns the others to be polled here.
`meter_poll_answer` hands a gateway's readings, with the times the gateway read them, to the
same `heat.polling.heat_poll_and_broadcast` as a local poll (validation, storage, live events,
alarms), for that gateway's own sites' meters only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.gateways import dispatch, services, wire
from apps.gateways.models import GatewayCall, GatewaySite
from apps.heat.meters import MeterError, MeterReading
from apps.sites.models import HeatMeter

logger = logging.getLogger(__name__)
POLL_EXPIRES = timedelta(seconds=60)
_FIELDS = ("protocol", "host", "port", "unit_id", "model")


def meter_poll_send(meter_ids: list[int]) -> list[int]:
    """Sends the meters of gateway sites to their gateways; returns the ids to poll here."""
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
            by_gateway.setdefault(gateway.pk, (gateway, []))[1].append(meter)
    now = timezone.now()
    for gateway, own in by_gateway.values():
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
            "sealed": services.seal_for(gateway, str(call.pk), {"meters": plain}),
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

    with transaction.atomic():
        updated = GatewayCall.objects.filter(
            pk=call_id, gateway=gateway, kind="meter_poll", answered_at__isnull=True
        ).update(answered_at=timezone.now(), status=GatewayCall.Status.ANSWERED)
    if not updated:
        audit_record(
            actor=None,
            action="gateway.answer",
            target=gateway,
            result=AuditEvent.Result.REFUSED,
            detail={"call_id": call_id, "reason": "not an open meter poll of this gateway"},
        )
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
