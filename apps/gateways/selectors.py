"""Gateways as the site and fleet pages show them: which one, its version, last contact, and
whether it is offline (no heartbeat for GATEWAY_OFFLINE_AFTER seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.accounts import access
from apps.accounts.policy import Action
from apps.gateways.models import Gateway, GatewaySite


@dataclass(frozen=True)
class GatewayHealth:
    name: str
    version: str
    last_contact_at: datetime | None
    offline: bool
    spool_depth: int | None = None  # meter readings waiting on the gateway (last heartbeat)
    spool_oldest_at: datetime | None = None


def site_gateways_for_user(user, site_ids: list[int]) -> dict[int, GatewayHealth]:
    """The active gateway of each of these sites, for roles that see hardware (else none)."""
    if not access.can(user, Action.VIEW_HARDWARE) or not site_ids:
        return {}
    limit = timezone.now() - timedelta(seconds=getattr(settings, "GATEWAY_OFFLINE_AFTER", 120))
    links = GatewaySite.objects.filter(
        site_id__in=site_ids, gateway__status=Gateway.Status.ACTIVE
    ).select_related("gateway")
    return {
        link.site_id: GatewayHealth(
            name=link.gateway.name,
            version=link.gateway.version,
            last_contact_at=link.gateway.last_contact_at,
            offline=link.gateway.last_contact_at is None or link.gateway.last_contact_at < limit,
            spool_depth=link.gateway.spool_depth,
            spool_oldest_at=link.gateway.spool_oldest_at,
        )
        for link in links
    }
