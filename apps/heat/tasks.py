"""Celery tasks for heat meters: thin wrappers that pass ids and call one service."""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task
from django.conf import settings

from apps.sites.models import HeatMeter, Site

from . import polling

logger = logging.getLogger(__name__)


def sweep_batches() -> list[list[int]]:
    """Ids of the meters to poll (installed, at sites not decommissioned), site by site, in
    batches of ``METER_SWEEP_BATCH`` (default 200)."""
    ids = list(
        HeatMeter.objects.filter(removed_at__isnull=True)
        .exclude(site__status=Site.Status.DECOMMISSIONED)
        .order_by("site_id", "id")
        .values_list("id", flat=True)
    )
    size = int(getattr(settings, "METER_SWEEP_BATCH", 200))
    return [ids[start : start + size] for start in range(0, len(ids), size)]


@shared_task(ignore_result=True)
def meter_sweep_task() -> int:
    """Beat entry point (every METER_POLL_INTERVAL): one poll task per batch of meters."""
    batches = sweep_batches()
    for batch in batches:
        meter_poll_task.delay(batch)
    return sum(len(b) for b in batches)


# A poll older than a few intervals is worthless: the next sweep has newer readings.
@shared_task(ignore_result=True, expires=60)
def meter_poll_task(meter_ids: list[int]) -> dict[str, int]:
    from apps.gateways.meters import meter_poll_send

    # meters of sites with a gateway are read there (their readings come back on their own)
    meter_ids = meter_poll_send(meter_ids)
    summary = polling.heat_poll_and_broadcast(meter_ids)
    logger.info("heat poll of %d meters: %s", len(meter_ids), summary)
    return asdict(summary)
