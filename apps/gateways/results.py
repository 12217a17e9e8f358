"""What gateways send back: verified against the sender's key before anything is believed.

An answer from an unknown or revoked gateway, or whose signature does not verify, is refused
(audited, nothing else changes). A verified one refreshes the gateway's last contact and goes to
the handler of its kind.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.gateways import crypto, images, power, wire
from apps.gateways.models import Gateway
from apps.ops import metrics

logger = logging.getLogger(__name__)


def _refused(gateway: Gateway | None, name: str, reason: str) -> str:
    logger.warning("answer from gateway %r refused: %s", name, reason)
    audit_record(
        actor=None,
        action="gateway.answer",
        target=gateway,
        result=AuditEvent.Result.REFUSED,
        detail={"gateway": name[:64], "reason": reason},
    )
    return "refused"


def result_receive(document: Any, signature: Any) -> str:
    """One signed answer from a gateway (the central results task's one service)."""
    if not isinstance(document, dict) or not isinstance(signature, str):
        return _refused(None, "?", "not a gateway answer")
    name = str(document.get("gateway", ""))
    gateway = Gateway.objects.filter(name=name).first()
    if gateway is None:
        return _refused(None, name, "unknown gateway")
    if gateway.status != Gateway.Status.ACTIVE:
        return _refused(gateway, name, "gateway revoked")
    try:
        crypto.verify(gateway.signing_public_key, document, signature)
    except crypto.SealError as error:
        return _refused(gateway, name, str(error))
    sent_at = datetime.fromtimestamp(float(document.get("sent_at", 0)), UTC)
    Gateway.objects.filter(pk=gateway.pk).update(
        last_contact_at=min(sent_at, timezone.now()), version=str(document.get("version", ""))[:32]
    )
    kind, payload = document.get("kind"), document.get("payload") or {}
    if kind == wire.HEARTBEAT_KIND:
        metrics.GATEWAY_HEARTBEATS.labels(gateway.name).inc()
        from apps.gateways import meters

        meters.spool_report_store(gateway, payload.get("spool"))
        relay = payload.get("image_url") if images.url_valid(payload.get("image_url")) else ""
        if relay != gateway.image_base_url:
            Gateway.objects.filter(pk=gateway.pk).update(image_base_url=relay)
        return "heartbeat"
    if kind == wire.METER_READINGS_KIND:
        from apps.gateways import meters

        return meters.meter_readings_receive(gateway, payload)
    if kind == "power":
        return power.power_answer(gateway, str(document.get("call_id")), payload)
    if kind == "meter_poll":
        from apps.gateways import meters

        return meters.meter_poll_answer(gateway, str(document.get("call_id")), payload)
    if kind in ("tpm_quote", "tpm_identity", "tpm_activate"):
        from apps.gateways import quotes

        return quotes.answer(gateway, kind, str(document.get("call_id")), payload)
    if kind == "firmware":
        from apps.gateways import firmware

        return firmware.firmware_answer(gateway, str(document.get("call_id")), payload)
    if kind == "bmc_poll":
        from apps.gateways import polling

        return polling.bmc_poll_answer(gateway, str(document.get("call_id")), payload)
    return _refused(gateway, name, f"unknown kind {kind!r}")
