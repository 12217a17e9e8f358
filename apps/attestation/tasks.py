"""Celery tasks for attestation: thin wrappers that take ids and call one service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from apps.attestation import services
from apps.attestation.models import AgentEndpoint

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def attestation_sweep_task() -> int:
    """Beat entry point: every node with an agent endpoint, one task per batch."""
    ids = list(AgentEndpoint.objects.order_by("node_id").values_list("node_id", flat=True))
    size = int(getattr(settings, "ATTESTATION_SWEEP_BATCH", 500))
    for start in range(0, len(ids), size):
        attestation_sweep_nodes_task.delay(ids[start : start + size])
    return len(ids)


@shared_task(ignore_result=True, expires=600)
def attestation_sweep_nodes_task(node_ids: list[int]) -> dict[str, int]:
    counts = services.attestation_sweep(node_ids)
    logger.info("attestation sweep of %d nodes: %s", len(node_ids), counts)
    return counts


@shared_task(ignore_result=True)
def attest_node_task(node_id: int) -> str:
    """On demand ("Attest now"): one node, recorded like a sweep."""
    try:
        result = services.attest(node_id=node_id)
    except services.AttestationError as exc:
        logger.warning("attestation of node %s refused: %s", node_id, exc)
        return "refused"
    return result.verdict if result is not None else "sent_to_gateway"


@shared_task(ignore_result=True)
def enrol_node_task(node_id: int) -> str:
    """Enrol (or re-enrol after a TPM clear or board swap) one node; the service audits it."""
    try:
        enrolment = services.enrol(node_id=node_id)
    except services.AttestationError as exc:
        logger.warning("enrolment of node %s failed: %s", node_id, exc)
        return "failed"
    return "enrolled" if enrolment is not None else "sent_to_gateway"
