"""Celery tasks for BMCs: thin wrappers that reload by id and call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from apps.hardware import details, rotation, services
from apps.ops import liveness
from apps.sites.models import Node

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def bmc_sweep_task() -> int:
    """Beat entry point: splits the fleet into batches, one task per batch."""
    ids = list(
        Node.objects.exclude(bmc_host="").order_by("site_id", "id").values_list("id", flat=True)
    )
    size = settings.BMC_SWEEP_BATCH
    for start in range(0, len(ids), size):
        bmc_sweep_nodes_task.delay(ids[start : start + size])
    return len(ids)


@shared_task(ignore_result=True, expires=120)
def bmc_sweep_nodes_task(node_ids: list[int]) -> dict[str, int]:
    counts = services.bmc_sweep_nodes(node_ids)
    # Nodes that answered for the first time get their inventory and boot device read once.
    counts["first_reads"] = len(details.bmc_details_first_read_request(node_ids=node_ids))
    logger.info("BMC sweep of %d nodes: %s", len(node_ids), counts)
    return counts


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def power_execute_task(self, action_id: int) -> str:
    """Acts on hardware: acknowledged only once done, so a killed worker's action is redelivered
    (and `power_execute` decides whether it may run again)."""
    attempt = services.power_execute(action_id, worker=liveness.worker_id(self.request.hostname))
    if attempt.retry_in is not None:
        raise self.retry(countdown=attempt.retry_in)
    return attempt.action.status


@shared_task(ignore_result=True)
def bmc_details_refresh_task(node_id: int) -> None:
    details.bmc_details_refresh(node_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=5)
def bmc_password_rotate_task(self, node_id: int, actor_id: int | None, requested_at: str) -> str:
    """Acknowledged only once done: a killed worker's rotation is redelivered and resumed
    (`bmc_password_rotate` finds the pending password and asks the BMC which one it takes)."""
    queued = rotation.bmc_password_rotate_queued(
        node_id=node_id, actor_id=actor_id, requested_at=requested_at
    )
    if queued.retry_in is not None:
        raise self.retry(countdown=queued.retry_in)
    return queued.result.outcome if queued.result else "skipped"


@shared_task(ignore_result=True)
def bmc_log_sweep_task() -> int:
    """Beat entry point: the BMC log check (chassis intrusions), one task per batch of nodes."""
    ids = list(
        Node.objects.exclude(bmc_host="")
        .filter(reachable=True, bmc_facts__features__bmc_log=True)
        .order_by("site_id", "id")
        .values_list("id", flat=True)
    )
    size = settings.BMC_SWEEP_BATCH
    for start in range(0, len(ids), size):
        bmc_logs_check_task.delay(ids[start : start + size])
    return len(ids)


@shared_task(ignore_result=True, expires=600)
def bmc_logs_check_task(node_ids: list[int]) -> dict[str, int]:
    counts = details.bmc_logs_check(node_ids=node_ids)
    logger.info("BMC log check of %d nodes: %s", len(node_ids), counts)
    return counts
