"""The first read of a node's BMC details: FRU inventory, firmware versions, boot device.

The poller reads power and sensors every sweep; the details change rarely and cost several
round trips, so an engineer reads them on demand ("Read inventory") and Heatsite reads them once,
by itself, as soon as a node answers a poll: a new node (or a new fleet, or the demo's lab) does
not say "Not read yet" until someone clicks.

After each sweep, `bmc_details_first_read_request` claims the nodes that answered and were never
read (``BmcFacts.details_requested_at``) and enqueues `bmc_details_refresh_task` for each once the
claim commits. The claim is what keeps one node from being queued by every sweep while its read
waits; a read that failed (the BMC stopped answering in between) is claimed again after
`FIRST_READ_RETRY`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.hardware.models import BmcFacts
from apps.sites.models import Node

logger = logging.getLogger(__name__)

FIRST_READ_RETRY = timedelta(minutes=15)
# Reads handed to the queue per call (per sweep batch): a new fleet of thousands of nodes is
# read over a few sweeps instead of burying power actions under one burst of tasks.
FIRST_READS_PER_CALL = 100


def nodes_never_read(node_ids: Iterable[int]) -> QuerySet[Node]:
    """Nodes among these that answered their last poll and whose details were never read (a
    read stores the ``inventory`` feature, available or not, whatever the BMC answers)."""
    return (
        Node.objects.filter(pk__in=list(node_ids), reachable=True)
        .exclude(bmc_host="")
        .exclude(bmc_facts__features__has_key="inventory")
    )


def _claimable(now: datetime, prefix: str = "") -> Q:
    field = f"{prefix}details_requested_at"
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": now - FIRST_READ_RETRY})


def bmc_details_first_read_request(
    *, node_ids: Iterable[int], now: datetime | None = None, limit: int = FIRST_READS_PER_CALL
) -> list[int]:
    """Enqueues the first details read of the nodes among ``node_ids`` that answered and were
    never read nor claimed within `FIRST_READ_RETRY`; returns the ids it claimed."""
    now = now or timezone.now()
    candidates = list(
        nodes_never_read(node_ids)
        .filter(_claimable(now, "bmc_facts__"))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    if not candidates:
        return []
    claimed: list[int] = []
    with transaction.atomic():
        BmcFacts.objects.bulk_create(
            [BmcFacts(node_id=pk) for pk in candidates], ignore_conflicts=True
        )
        for pk in candidates:
            # Conditional: of two sweeps of the same nodes at once, one claims each node.
            if (
                BmcFacts.objects.filter(node_id=pk)
                .filter(_claimable(now))
                .update(details_requested_at=now)
            ):
                claimed.append(pk)
        transaction.on_commit(lambda: _send(claimed))
    return claimed


def _send(node_ids: list[int]) -> None:
    from apps.hardware.tasks import bmc_details_refresh_task

    for pk in node_ids:
        try:
            bmc_details_refresh_task.delay(pk)
        except Exception:
            # The claim stays: the read is asked again after FIRST_READ_RETRY.
            logger.exception("node %s: first details read could not be queued", pk)
            return
