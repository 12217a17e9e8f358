"""BMC polls through site gateways: the gateway runs the sweep, the central side stores it.

`bmc_poll_send` takes a sweep batch's nodes, sends those of gateway sites to their gateway (one
sealed call per gateway, expiring after a poll interval: an old poll is worthless) and returns
the others to be polled here. `bmc_poll_answer` stores a gateway's results through the same
`hardware.services.bmc_sweep_store` as a local sweep, for that gateway's own nodes only.
"""

from __future__ import annotations

import datetime
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.core.crypto import CredentialError
from apps.gateways import dispatch, services, wire
from apps.gateways.models import Gateway, GatewayCall, GatewaySite
from apps.hardware.drivers.base import SensorReading
from apps.hardware.protocols import endpoint_for
from apps.hardware.sweep import PollResult
from apps.sites.models import Node

logger = logging.getLogger(__name__)


def bmc_poll_send(nodes: list[Node]) -> list[Node]:
    """Sends the nodes of gateway sites to their gateways; returns the nodes to poll here."""
    routed = services.gateways_for_sites({n.site_id for n in nodes})
    if not routed:
        return nodes
    local, by_gateway = [], {}
    for node in nodes:
        gateway = routed.get(node.site_id)
        if gateway is None:
            local.append(node)
        else:
            by_gateway.setdefault(gateway.pk, (gateway, []))[1].append(node)
    for gateway, gateway_nodes in by_gateway.values():
        _send(gateway, gateway_nodes)
    return local


def _send(gateway: Gateway, nodes: list[Node]) -> None:
    now = timezone.now()
    expires = now + timedelta(seconds=max(settings.BMC_POLL_INTERVAL, 10.0))
    endpoints = []
    for node in nodes:
        try:
            endpoints.append(
                {"node_id": node.pk, "endpoint": services.endpoint_plain(endpoint_for(node))}
            )
        except CredentialError:
            logger.warning("node %s: BMC password cannot be decrypted", node.pk)
    if not endpoints:
        return
    call = GatewayCall.objects.create(
        gateway=gateway, kind="bmc_poll", sent_at=now, start_by=expires, deadline=expires
    )
    call_id = str(call.pk)
    message = {
        "call_id": call_id,
        "gateway": gateway.name,
        "start_by": expires.timestamp(),
        "sealed": services.seal_for(gateway, call_id, {"endpoints": endpoints}),
    }
    try:
        dispatch.gateway_send(gateway.name, wire.BMC_POLL_TASK, message, expires=expires)
    except Exception:
        # the next sweep tries again; the nodes' last contact shows the gap meanwhile
        logger.exception("BMC poll of %d nodes not sent to gateway %s", len(endpoints), gateway)
        GatewayCall.objects.filter(pk=call.pk).update(status=GatewayCall.Status.EXPIRED)


def _poll_result(node: Node, item: dict[str, Any]) -> PollResult:
    sensors = item.get("sensors")

    def stamp(value: str | None) -> datetime.datetime | None:
        return datetime.datetime.fromisoformat(value) if value else None

    return PollResult(
        endpoint=None,  # type: ignore[arg-type]  # not read when storing
        ok=bool(item.get("ok")),
        power_state=item.get("power_state"),
        sensors=[SensorReading(**s) for s in sensors] if sensors is not None else None,
        system_power_watts=item.get("system_power_watts"),
        cause=item.get("cause"),
        transient=item.get("transient"),
        message=str(item.get("message") or ""),
        skipped=bool(item.get("skipped")),
        backoff_until=stamp(item.get("backoff_until")),
        polled_at=stamp(item.get("polled_at")) or timezone.now(),
    )


def bmc_poll_answer(gateway: Gateway, call_id: str, payload: dict[str, Any]) -> str:
    """Stores a gateway's poll results (its own call, its own sites' nodes only)."""
    from apps.hardware.services import bmc_sweep_store, sweep_nodes_load

    if not services.answer_claim(gateway, call_id, "bmc_poll", "poll"):
        return "refused"
    items = {int(i["node_id"]): i for i in payload.get("results", []) if "node_id" in i}
    own_sites = set(GatewaySite.objects.filter(gateway=gateway).values_list("site_id", flat=True))
    nodes = [n for n in sweep_nodes_load(list(items)) if n.site_id in own_sites]
    results = [_poll_result(n, items[n.pk]) for n in nodes]
    polled_at = max((r.polled_at for r in results), default=timezone.now())
    bmc_sweep_store(nodes, results, now=min(polled_at, timezone.now()), observe_certificates=False)
    return "stored"
